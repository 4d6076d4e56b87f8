"""Stream events from proxies, and the stream list they count per engine."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from supervisor.api.auth import API_KEY, require_api_key
from supervisor.api.deps import SupervisorDependency
from supervisor.api.errors import documented
from supervisor.api.schemas import (
    QueryTime,
    StatOut,
    StreamEndedBody,
    StreamOut,
    StreamStartedBody,
    StreamStopped,
    query_time,
    stat_out,
    stream_out,
)
from supervisor.core.records import KeyType, Stream, StreamStatus
from supervisor.errors import NotFound
from supervisor.loops.stream_check import COMMAND_PATH, reachable_url
from supervisor.service import Supervisor
from supervisor.streams import StreamStart

DEFAULT_LIMIT = 100  # GET /streams never returns the whole history
MAX_LIMIT = 1000
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="at most this many, the newest")]


class StreamController(Controller):
    tags = ("streams",)

    @post(
        "/events/stream_started",
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(400, 401, 403, 404, 413),
    )
    async def stream_started(
        self, supervisor: SupervisorDependency, data: JSONBody[StreamStartedBody]
    ) -> StreamOut:
        """Record a stream on the engine named by id, else host and port, else port. Idempotent."""
        stream = supervisor.streams.start(
            StreamStart(
                container_id=data.container_id,
                host=data.engine.host,
                port=data.engine.port,
                key_type=KeyType(data.stream.key_type),
                key=data.stream.key,
                playback_session_id=data.session.playback_session_id,
                stat_url=data.session.stat_url,
                command_url=data.session.command_url,
                is_live=bool(data.session.is_live),
                stream_id=data.labels.stream_id,
            )
        )
        return stream_out(stream)

    @post(
        "/events/stream_ended",
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(400, 401, 403, 404, 413),
    )
    async def stream_ended(
        self, supervisor: SupervisorDependency, data: JSONBody[StreamEndedBody]
    ) -> list[StreamOut]:
        """End a stream (or every stream of an engine given only container_id). Idempotent."""
        ended = supervisor.streams.end(data.stream_id, data.container_id, data.reason)
        return [stream_out(stream) for stream in ended]

    @get("/streams", responses=documented(400))
    async def list_streams(
        self,
        supervisor: SupervisorDependency,
        status: FromQuery[Literal["started", "ended"] | None] = None,
        container_id: FromQuery[str | None] = None,
        key: FromQuery[str | None] = None,
        since: FromQuery[QueryTime] = None,
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
    ) -> list[StreamOut]:
        """Streams as a bare array, oldest first: the newest `limit` (default 100, at most 1000) matching
        status, the engine's container id, the stream key and a start strictly after `since`."""
        engine = supervisor.state.find_engine(container_id) if container_id else None
        engine_id = engine.container_id if engine else container_id
        rows = supervisor.store.streams(
            StreamStatus(status) if status else None,
            engine_id,
            key=key,
            since=query_time("since", since),
            limit=limit,
        )
        return [stream_out(stream) for stream in rows]

    @get("/streams/{stream_id:str}", responses=documented(400, 404))
    async def show_stream(self, supervisor: SupervisorDependency, stream_id: FromPath[str]) -> StreamOut:
        return stream_out(_stream(supervisor.streams.find(stream_id), stream_id))

    @get("/streams/{stream_id:str}/stats", responses=documented(400, 404))
    async def stream_stats(
        self,
        supervisor: SupervisorDependency,
        stream_id: FromPath[str],
        since: FromQuery[QueryTime] = None,
    ) -> list[StatOut]:
        """The snapshots the stream check collected from the stream's stat_url (oldest first, the newest
        360 while it is started; none once it ended), those strictly after `since`."""
        _stream(supervisor.streams.find(stream_id), stream_id)
        after = query_time("since", since)
        samples = supervisor.streams.stat_history(stream_id)
        return [stat_out(sample) for sample in samples if after is None or sample.at > after]

    @post(
        "/streams/{stream_id:str}/stop",
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(400, 401, 403, 404),
    )
    async def stop_stream(self, supervisor: SupervisorDependency, stream_id: FromPath[str]) -> StreamStopped:
        """Stop a stream: its engine is asked to stop the session (command_url, method=stop), and the
        stream ends with reason stopped_by_api even when the engine does not answer. Idempotent; the
        stream stays in the history (an action, not a DELETE: the stream is still there to read)."""
        return await _stop(supervisor, stream_id)

    @delete(
        "/streams/{stream_id:str}",
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(400, 401, 403, 404),
    )
    async def delete_stream(
        self, supervisor: SupervisorDependency, stream_id: FromPath[str]
    ) -> StreamStopped:
        """Stop and delete a stream (the replaced orchestrator's route): the session is stopped on its
        engine and the stream ends with reason stopped_by_api, as POST /streams/{id}/stop does; then its
        record is deleted (GET /streams/{id} is a 404; the end stays in GET /events). The answer shows
        the stream as it ended."""
        stopped = await _stop(supervisor, stream_id)
        supervisor.store.delete_stream(stream_id)
        return stopped


async def _stop(supervisor: Supervisor, stream_id: str) -> StreamStopped:
    stream = _stream(supervisor.streams.find(stream_id), stream_id)
    confirmed = False
    if stream.status is StreamStatus.started:
        url = reachable_url(supervisor.state, stream, stream.command_url, COMMAND_PATH)
        confirmed = url is not None and await supervisor.probes.stop_stream(url)
        supervisor.streams.end(stream.id, None, "stopped_by_api")
    return StreamStopped(stream_out(_stream(supervisor.streams.find(stream_id), stream_id)), confirmed)


def _stream(stream: Stream | None, stream_id: str) -> Stream:
    if stream is None:
        raise NotFound(f"no stream {stream_id!r}; GET /streams lists them")
    return stream
