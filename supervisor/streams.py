"""Stream bookkeeping from the proxies' events: which engine serves which stream.

Both events are idempotent: a repeated start returns the stream already recorded, a repeated end is a
no-op. acexy sends its own container id and names the engine by host and port, so the engine is matched
by engine id, else host and port, else the port alone (ports are unique in a stack).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from supervisor.core.events import EventType
from supervisor.core.records import Engine, KeyType, Stream, StreamStatus
from supervisor.core.stream_check import STAT_HISTORY, StatSample
from supervisor.errors import InvalidInput, NotFound
from supervisor.state import StackState
from supervisor.store import Store

log = logging.getLogger("supervisor.streams")


@dataclass(frozen=True)
class StreamStart:
    container_id: str | None
    host: str
    port: int
    key_type: KeyType
    key: str
    playback_session_id: str
    stat_url: str
    command_url: str
    is_live: bool
    stream_id: str | None


class Streams:
    def __init__(
        self, state: StackState, store: Store, started: Callable[[str, str], None] = lambda _e, _k: None
    ) -> None:
        self._state = state
        self._store = store
        self._started = started  # (engine id, key): a stream an acquire made room for has started
        # Each active stream's latest stat samples (the stream check collects them), in memory only.
        self._stats: dict[str, deque[StatSample]] = {}

    def restore(self) -> None:
        """After adoption: put the active streams the store remembers back on their engines."""
        for stream in self._store.streams(StreamStatus.started):
            engine = self._state.engines.get(stream.container_id)
            if engine is not None:
                engine.streams.add(stream.id)
        self._state.streams_total = self._store.count_streams()

    def start(self, event: StreamStart) -> Stream:
        stream_id = event.stream_id or f"{event.key}|{event.playback_session_id}"
        existing = self._store.stream(stream_id)
        if existing is not None:
            return existing
        engine = self._match(event)
        now = self._state.clock.now()
        stream = Stream(
            id=stream_id,
            key_type=event.key_type,
            key=event.key,
            container_id=engine.container_id,
            playback_session_id=event.playback_session_id,
            stat_url=event.stat_url,
            command_url=event.command_url,
            is_live=event.is_live,
            started_at=now,
        )
        self._store.save_stream(stream)
        self._store.record_event(EventType.stream_started, f"{stream_id} ({event.key_type})", now, engine)
        engine.streams.add(stream_id)
        engine.last_stream_usage = now
        self._state.streams_total += 1
        self._started(engine.container_id, event.key)
        log.info("stream %s started on %s", stream_id, engine.container_name)
        if len(engine.streams) > self._state.stream_limit:
            log.warning(
                "engine %s now carries %d streams, above max_streams_per_engine %d (recorded all the same)",
                engine.container_name,
                len(engine.streams),
                self._state.stream_limit,
            )
        return stream

    def end(self, stream_id: str | None, container_id: str | None, reason: str | None) -> list[Stream]:
        """End one stream, or every active stream of an engine when only its id is given."""
        if stream_id is not None:
            stream = self._store.stream(stream_id)
            if stream is None:
                raise NotFound(f"stream_id: no stream {stream_id!r}; GET /streams lists them")
            targets = [stream]
        elif container_id is not None:
            engine = self._state.find_engine(container_id)
            if engine is None:
                raise NotFound(f"container_id: no engine {container_id!r} in this stack")
            targets = self._store.streams(StreamStatus.started, engine.container_id)
        else:
            raise InvalidInput(
                "stream_id", "give stream_id, or container_id to end every stream of an engine"
            )
        self._close(targets, reason)
        return targets

    def active(self) -> list[Stream]:
        return self._store.streams(StreamStatus.started)

    def find(self, stream_id: str) -> Stream | None:
        return self._store.stream(stream_id)

    def is_active(self, stream_id: str) -> bool:
        stream = self._store.stream(stream_id)
        return stream is not None and stream.status is StreamStatus.started

    def end_stale(self, stream: Stream, detail: str) -> None:
        """End a stream whose engine no longer knows its session (reason `stale`, event stream_stale)."""
        close_streams(self._state, self._store, [stream], "stale", EventType.stream_stale, detail)
        log.warning("stream %s ended as stale: %s", stream.id, detail)

    def record_stat(self, stream_id: str, sample: StatSample) -> None:
        self._stats.setdefault(stream_id, deque(maxlen=STAT_HISTORY)).append(sample)

    def stat_history(self, stream_id: str) -> list[StatSample]:
        """Oldest first, at most STAT_HISTORY; empty for a stream never polled or no longer active."""
        return list(self._stats.get(stream_id, ()))

    def keep_stats_of(self, stream_ids: set[str]) -> None:
        """Drop the samples of every stream not named (ended ones), so memory follows the active set."""
        for stream_id in self._stats.keys() - stream_ids:
            del self._stats[stream_id]

    def end_on_engine(self, engine: Engine, reason: str) -> None:
        """End every active stream of an engine (also one already forgotten, after its removal)."""
        end_engine_streams(self._state, self._store, engine, reason)

    def _close(self, targets: list[Stream], reason: str | None) -> None:
        close_streams(self._state, self._store, targets, reason)

    def _match(self, event: StreamStart) -> Engine:
        engines = self._state.engines
        if event.container_id and (engine := self._state.find_engine(event.container_id)):
            return engine
        by_port = [engine for engine in engines.values() if engine.host_http_port == event.port]
        for engine in by_port:
            if event.host in (self._state.config.env.engine_host, engine.container_name):
                return engine
        if by_port:
            return by_port[0]
        raise NotFound(f"engine: no engine listens on port {event.port}; GET /engines lists them")


def end_engine_streams(state: StackState, store: Store, engine: Engine, reason: str) -> None:
    """End every active stream of an engine; idempotent (the provisioner calls it on every removal)."""
    close_streams(state, store, store.streams(StreamStatus.started, engine.container_id), reason)
    engine.streams.clear()


def close_streams(
    state: StackState,
    store: Store,
    targets: list[Stream],
    reason: str | None,
    event: EventType = EventType.stream_ended,
    detail: str | None = None,
) -> None:
    now = state.clock.now()
    for stream in targets:
        if stream.status is StreamStatus.ended:
            continue
        stream.status, stream.ended_at, stream.end_reason = StreamStatus.ended, now, reason
        store.save_stream(stream)
        engine = state.engines.get(stream.container_id)
        store.record_event(event, f"{stream.id}: {detail or reason or 'ended'}", now, engine)
        if engine is not None:
            engine.streams.discard(stream.id)
            engine.last_stream_usage = now
            engine.idle_since = state.clock.monotonic()
