"""Stream events from proxies, and the stream list they count per engine."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get, post
from litestar.params import FromQuery, JSONBody

from supervisor.api.auth import require_api_key
from supervisor.api.deps import SupervisorDependency
from supervisor.api.schemas import StreamEndedBody, StreamOut, StreamStartedBody, stream_out
from supervisor.core.records import KeyType, StreamStatus
from supervisor.streams import StreamStart


class StreamController(Controller):
    tags = ("streams",)

    @post("/events/stream_started", status_code=200, guards=[require_api_key])
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

    @post("/events/stream_ended", status_code=200, guards=[require_api_key])
    async def stream_ended(
        self, supervisor: SupervisorDependency, data: JSONBody[StreamEndedBody]
    ) -> list[StreamOut]:
        """End a stream (or every stream of an engine given only container_id). Idempotent."""
        ended = supervisor.streams.end(data.stream_id, data.container_id, data.reason)
        return [stream_out(stream) for stream in ended]

    @get("/streams")
    async def list_streams(
        self,
        supervisor: SupervisorDependency,
        status: FromQuery[Literal["started", "ended"] | None] = None,
        container_id: FromQuery[str | None] = None,
    ) -> list[StreamOut]:
        """Streams as a bare array, filtered by status and by the engine's container id."""
        engine = supervisor.state.find_engine(container_id) if container_id else None
        engine_id = engine.container_id if engine else container_id
        rows = supervisor.store.streams(StreamStatus(status) if status else None, engine_id)
        return [stream_out(stream) for stream in rows]
