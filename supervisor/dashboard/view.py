"""GET /dashboard/state: everything the page shows, in one answer built from memory (and the event log).

One answer rather than the page calling six routes: its parts are from the same moment, and the page
needs one request per refresh. The parts are the routes' own shapes (`/orchestrator/status`,
`/health/status`, `/vpn/status`, `/engines?all=true`, `/streams`, `/streams/{id}/stats`, `/events`), so
what the page shows is what those routes answer.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from supervisor.api.operator import HealthStatusOut, VpnStatusOut, health_status_of, vpn_status_of
from supervisor.api.read_cache import listed_engines
from supervisor.api.schemas import EngineOut, StatOut, StreamOut, stat_out, stream_out
from supervisor.api.status_view import OrchestratorStatus, orchestrator_status
from supervisor.core.events import EventType
from supervisor.core.image import outdated
from supervisor.core.records import StreamStatus
from supervisor.service import Supervisor
from supervisor.store import Event

STREAMS_SHOWN = 200  # active streams in one answer (the newest)
STATS_SHOWN = 60  # a stream's newest snapshots, for its chart (one per health_check_interval_s)
EVENTS_SHOWN = 100  # newest events, after the filters


class EngineImage(msgspec.Struct):
    id: str | None  # the image id the engine runs
    outdated: bool  # another id than the current one: replaced once idle
    built: datetime | None  # when that image was built (its age), null while unknown


class EngineRow(msgspec.Struct):
    engine: EngineOut  # as GET /engines?all=true lists it
    image: EngineImage


class StreamRow(msgspec.Struct):
    stream: StreamOut  # as GET /streams lists it
    engine_name: str | None
    stats: list[StatOut]  # the newest snapshots, oldest first (GET /streams/{id}/stats)


class ImageOut(msgspec.Struct):
    reference: str
    current_id: str | None
    checked_at: datetime | None
    missing: str | None  # why provisioning cannot work, when the image is not on the daemon


class ScaleOut(msgspec.Struct):
    desired: int | None  # POST /scale/{n}'s last n (null: none asked since start)
    min_replicas: int
    max_replicas: int
    max_streams_per_engine: int


class DashboardState(msgspec.Struct):
    version: int  # the state's version when built: the feed says when it moves
    read_only: bool  # ACE_SUPERVISOR_DASHBOARD_READ_ONLY: the views open without the key
    status: OrchestratorStatus
    health: HealthStatusOut
    vpn: VpnStatusOut
    engines: list[EngineRow]
    streams: list[StreamRow]
    events: list[Event]  # newest first, filtered as asked
    image: ImageOut
    scale: ScaleOut


def dashboard_state(
    supervisor: Supervisor, event_type: EventType | None, event_engine: str | None
) -> DashboardState:
    state, store = supervisor.state, supervisor.store
    current = state.image.current_id
    engines = [
        EngineRow(
            shown,
            EngineImage(
                engine.image_id,
                outdated(engine.image_id, current),
                state.image.built.get(engine.image_id) if engine.image_id else None,
            ),
        )
        for shown, engine in zip(listed_engines(state, True), state.engines.values(), strict=True)
    ]
    names = {engine.container_id: engine.container_name for engine in state.engines.values()}
    active = store.streams(StreamStatus.started, limit=STREAMS_SHOWN)
    streams = [
        StreamRow(
            stream_out(stream),
            names.get(stream.container_id),
            [stat_out(sample) for sample in supervisor.streams.stat_history(stream.id)[-STATS_SHOWN:]],
        )
        for stream in reversed(active)  # newest first
    ]
    stack = state.config.stack
    return DashboardState(
        version=state.version,
        read_only=supervisor.config.env.dashboard_read_only,
        status=orchestrator_status(supervisor),
        health=health_status_of(supervisor),
        vpn=vpn_status_of(state),
        engines=engines,
        streams=streams,
        events=store.events(EVENTS_SHOWN, None, event_type, event_engine),
        image=ImageOut(stack.engine.image, current, state.image.checked_at, state.image.missing),
        scale=ScaleOut(
            state.scale_target, stack.replicas.min, stack.replicas.max, stack.replicas.max_streams_per_engine
        ),
    )
