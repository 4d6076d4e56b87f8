"""The stream check: each started stream's session asked of its own engine, rather than trusting the
proxies' events alone.

Every tick asks, concurrently (at most `concurrency` at once, each within `timeout_s`), the stat URL of
every started stream, over connections kept from the last tick (HttpProbes: at most a few per engine, as
many requests in flight to one engine). The engine's answer, not the event log, decides:

- a session the engine says it no longer knows, `STALE_AFTER` times in a row, ends its stream with
  reason `stale` (event `stream_stale`); an engine that does not answer gives no verdict, so a stream is
  never ended because its engine could not be asked;
- each answer of life is kept as a stat sample on the stream (Streams.stat_history, the last 360);
- each engine's `live_sessions` is the count of sessions it reports alive. The engine's HTTP API has no
  listing of its sessions, so the sessions counted are the ones whose stat URL the supervisor knows: its
  started streams, and streams a proxy ended while the engine still served them (asked again every tick
  until the engine says they are gone). The scale-down decision reads it (core.records.serving).

No lock is held across the probes; answers are applied afterwards, and only to streams still started
(and engines still known) once the probes return.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from supervisor.core.records import Stream, StreamStatus
from supervisor.core.stream_check import (
    STALE_AFTER,
    Answer,
    StatSample,
    StreamStat,
    gone_in_a_row,
    is_stale,
    live_count,
)
from supervisor.loops.readiness import probe_address
from supervisor.probes import PROBE_TIMEOUT_S, ProbeFailure, Probes
from supervisor.state import StackState
from supervisor.streams import Streams

log = logging.getLogger("supervisor.stream_check")

CONCURRENCY = 128  # stat URLs asked at once (at most PER_ADDRESS of them of one engine)
STAT_PATH = "/ace/stat/"
COMMAND_PATH = "/ace/cmd/"


def reachable_url(state: StackState, stream: Stream, url: str, prefix: str) -> str | None:
    """One of the stream's engine URLs (stat_url, command_url) at the address the supervisor reaches its
    engine on: the proxy's URL names the engine as the proxy reaches it (often localhost), so only its
    path is kept; None when its engine is gone or the path is not the engine's."""
    engine = state.engines.get(stream.container_id)
    path = urlsplit(url).path
    if engine is None or not path.startswith(prefix):
        return None
    host, port = probe_address(state, engine)
    return f"http://{host}:{port}{path}"


class StreamCheckLoop:
    def __init__(
        self,
        state: StackState,
        probes: Probes,
        streams: Streams,
        *,
        threshold: int = STALE_AFTER,
        concurrency: int = CONCURRENCY,
        timeout_s: float = PROBE_TIMEOUT_S + 1,
        on_stale: Callable[[], None] | None = None,
    ) -> None:
        self._state = state
        self._probes = probes
        self._streams = streams
        self._threshold = threshold
        self._timeout_s = timeout_s
        self._limit = asyncio.Semaphore(concurrency)
        self._on_stale = on_stale  # e.g. a reconcile pass soon: an engine may have become idle
        self._gone: dict[str, int] = {}  # stream id -> consecutive "gone" answers
        self._last_answer: dict[str, Answer] = {}
        self._last_active: set[str] = set()  # streams started when the previous tick began
        self._lingering: dict[str, Stream] = {}  # ended by a proxy while the engine still served them
        self._ended = 0  # streams ended as stale in this tick

    async def tick(self) -> None:
        active = {stream.id: stream for stream in self._streams.active()}
        self._find_lingering(active)
        asked = [
            (stream, url)
            for stream in (*active.values(), *self._lingering.values())
            if (url := self._stat_url(stream)) is not None
        ]
        answers = await asyncio.gather(*(self._ask(url) for _, url in asked))
        per_engine: dict[str, list[Answer]] = {}
        self._ended = 0
        for (stream, _), (answer, stat) in zip(asked, answers, strict=True):
            self._last_answer[stream.id] = answer
            if stream.container_id not in self._state.engines:
                continue  # its engine was removed meanwhile
            if stream.id in self._lingering:
                counted: Answer | None = self._apply_lingering(stream.id, answer)
            else:
                counted = self._apply(stream.id, answer, stat)
            if counted is not None:
                per_engine.setdefault(stream.container_id, []).append(counted)
        for engine_id, engine in self._state.engines.items():
            engine.live_sessions = live_count(per_engine.get(engine_id, []))
        self._last_active = set(active)
        self._forget_except(self._last_active | set(self._lingering))
        self._streams.keep_stats_of({stream_id for stream_id in active if self._streams.is_active(stream_id)})
        if self._ended and self._on_stale is not None:
            self._on_stale()

    def _apply(self, stream_id: str, answer: Answer, stat: StreamStat | None) -> Answer | None:
        """One started stream's answer; None when the stream ended while its engine was asked."""
        stream = self._streams.find(stream_id)
        if stream is None or stream.status is not StreamStatus.started:
            return None
        gone = gone_in_a_row(answer, self._gone.get(stream_id, 0))
        self._gone[stream_id] = gone
        if stat is not None:
            self._streams.record_stat(stream_id, StatSample(self._state.clock.now(), stat))
        if is_stale(gone, self._threshold):
            engine = self._state.engines[stream.container_id]
            self._streams.end_stale(
                stream,
                f"stale: engine {engine.container_name} no longer knows session "
                f"{stream.playback_session_id} ({gone} answers in a row)",
            )
            self._last_answer[stream_id] = Answer.gone
            self._ended += 1
        return answer

    def _apply_lingering(self, stream_id: str, answer: Answer) -> Answer:
        if answer is Answer.gone:
            del self._lingering[stream_id]  # the engine let the session go: no longer counted
        return answer

    def _find_lingering(self, active: dict[str, Stream]) -> None:
        """Streams started last tick and ended since by a proxy (or the API) while their engine's last
        answer was alive: the engine may still serve them, so they are asked (and counted) until it says
        the session is gone."""
        for stream_id in self._last_active - active.keys():
            stream = self._streams.find(stream_id)
            if (
                stream is not None
                and stream.status is StreamStatus.ended
                and self._last_answer.get(stream_id) is Answer.alive
                and stream.container_id in self._state.engines
            ):
                self._lingering[stream_id] = stream
        for stream_id, stream in list(self._lingering.items()):
            if stream.container_id not in self._state.engines:
                del self._lingering[stream_id]

    def _forget_except(self, keep: set[str]) -> None:
        for table in (self._gone, self._last_answer):
            for stream_id in table.keys() - keep:
                del table[stream_id]

    def _stat_url(self, stream: Stream) -> str | None:
        return reachable_url(self._state, stream, stream.stat_url, STAT_PATH)

    async def _ask(self, url: str) -> tuple[Answer, StreamStat | None]:
        async with self._limit:
            try:
                async with asyncio.timeout(self._timeout_s):
                    stat = await self._probes.stream_stat(url)
            except (ProbeFailure, TimeoutError) as error:
                log.debug("no verdict from %s: %s", url, error or "timed out")
                return Answer.unknown, None
        return (Answer.gone, None) if stat is None else (Answer.alive, stat)
