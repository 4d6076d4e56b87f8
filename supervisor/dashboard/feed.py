"""GET /events/stream: the event log as server-sent events, and a state version that says when to refetch.

Each new event of the log is sent (`event: log`, `id:` its id, data as in GET /events) within FEED_POLL_S
of being recorded; each move of the state's version (an engine made, removed or withdrawn, a health
verdict, a stream, a VPN check, ...) is sent as `event: state` with the version, so the page fetches its
snapshot again; with nothing to say, `event: heartbeat` every HEARTBEAT_S, so a client (or a proxy in
between) sees the feed is alive. A client that reconnects with `Last-Event-ID` gets the events it missed.

The feed reads two counters in memory (the store's newest event id, the state's version) every
FEED_POLL_S and touches SQLite only when the first moved: a feed per open page costs next to nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from litestar.response import ServerSentEventMessage
from litestar.serialization import encode_json

from supervisor.service import Supervisor

FEED_POLL_S = 0.2  # how late a change is sent, at most (plus the time to send it)
HEARTBEAT_S = 10.0  # the longest silence
RETRY_MS = 2000  # what the client waits before it reconnects
BATCH = 100  # events read from the log at a time


def _message(event: str, data: object, event_id: int | None = None) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=encode_json(data).decode(), event=event, id=event_id)


async def live_feed(
    supervisor: Supervisor, last_event_id: int | None, closing: Callable[[], bool]
) -> AsyncIterator[ServerSentEventMessage]:
    """Until the client leaves (Litestar then cancels this) or the server shuts down (`closing`)."""
    store, state = supervisor.store, supervisor.state
    sent_event = store.newest_event_id if last_event_id is None else last_event_id
    sent_version = state.version
    hello = {"version": sent_version, "event_id": store.newest_event_id}
    yield ServerSentEventMessage(data=encode_json(hello).decode(), event="hello", retry=RETRY_MS)
    silent = 0.0
    while not closing():
        await asyncio.sleep(FEED_POLL_S)
        silent += FEED_POLL_S
        newest = store.newest_event_id
        sent_event = min(sent_event, newest)  # the database file was replaced: its ids start again
        while newest > sent_event:
            batch = store.events_after(sent_event, BATCH)
            if not batch:
                break
            for event in batch:
                yield _message("log", event, event.id)
            sent_event, silent = batch[-1].id, 0.0
        if state.version != sent_version:
            sent_version, silent = state.version, 0.0
            yield _message("state", {"version": sent_version})
        elif silent >= HEARTBEAT_S:
            silent = 0.0
            yield _message("heartbeat", {"version": sent_version})
