"""Request and response shapes: the contract the acexy proxy decodes strictly (see docs/API.md).

Timestamps are timezone-aware datetimes (encoded RFC 3339 with offset), ports ints, booleans bools,
label values strings; list routes return bare arrays of these.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar.params import Parameter

from supervisor.core import labels as label
from supervisor.core.health import HealthStatus
from supervisor.core.offer import Withdrawn
from supervisor.core.reconcile import Phase, engine_phase
from supervisor.core.records import Engine, Stream
from supervisor.core.stream_check import StatSample
from supervisor.errors import InvalidInput
from supervisor.state import StackState

# What one provision may add to its engine. Docker keeps every label and variable, and /engines lists every
# label of every engine: each map holds at most MAX_ENTRIES keys of at most MAX_KEY characters, each value
# at most MAX_VALUE (a 400 names the map and the limit). The checks beyond lengths (a label the supervisor
# sets, a NUL, a variable the stack does not allow) are the provisioner's; the schema states them too.
MAX_ENTRIES = 64
MAX_KEY = 128
MAX_VALUE = 1024
NO_NUL = "^[^\\x00]*$"


def _map_schema(names: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a bounded map whose keys follow `names`, for its `extra_json_schema`."""
    return {
        "extra": {
            "maxProperties": MAX_ENTRIES,
            "propertyNames": {"maxLength": MAX_KEY, **names},
            "additionalProperties": {"type": "string", "maxLength": MAX_VALUE, "pattern": NO_NUL},
        }
    }


Key = Annotated[str, msgspec.Meta(max_length=MAX_KEY)]
Value = Annotated[str, msgspec.Meta(max_length=MAX_VALUE)]
# A label key holds something besides white space and no NUL, and is not under a prefix the supervisor owns.
Labels = Annotated[
    dict[Key, Value],
    msgspec.Meta(
        max_length=MAX_ENTRIES,
        extra_json_schema=_map_schema(
            {
                "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$",
                "not": {"pattern": f"^({label.PREFIX}|com\\.docker)\\."},
            }
        ),
    ),
]
# The variables a request may set are the stack's (engine.allowed_env): the served schema names them.
Environment = Annotated[
    dict[Key, Value], msgspec.Meta(max_length=MAX_ENTRIES, extra_json_schema=_map_schema({}))
]


# A time in a query (`since`): RFC 3339 with its offset, read by `query_time`. Litestar's own reading of a
# datetime parameter would also take a bare number (as a Unix time), which the schema does not allow.
QueryTime = Annotated[
    str | None,
    Parameter(
        schema_extra={"format": "date-time"}, description="an RFC 3339 time with its offset; strictly after"
    ),
]
_AWARE = Annotated[datetime, msgspec.Meta(tz=True)]


def query_time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return msgspec.convert(value, _AWARE)
    except msgspec.ValidationError:
        raise InvalidInput(
            name, f"{value!r} is not an RFC 3339 time with its offset, like 2026-12-04T10:00:00Z"
        ) from None


class ProvisionBody(msgspec.Struct, forbid_unknown_fields=False):
    labels: Labels = {}
    env: Environment = {}
    host_port: int | None = None


class Provisioned(msgspec.Struct):
    container_id: str
    container_name: str
    host_http_port: int
    container_http_port: int
    container_https_port: int


class EngineOut(msgspec.Struct):
    container_id: str
    container_name: str
    host: str
    port: int
    labels: dict[str, str]
    forwarded: bool
    first_seen: datetime
    last_seen: datetime
    health_status: Literal["healthy", "unhealthy", "unknown"]
    last_health_check: datetime | None
    last_stream_usage: datetime | None
    # When the cache pass last saw this engine's disk use shrink (it pruned its cache); null until then.
    last_cache_cleanup: datetime | None
    # Its container's disk use (writable layer, where a disk cache lives) at the last cache pass; null
    # until the first pass after it started.
    cache_size_bytes: int | None
    streams: list[str]
    vpn_container: str | None
    vpn: str | None
    container_http_port: int
    # Why a proxy must not use it now (container_stopped, vpn_down, namespace_lost, unhealthy); null when it
    # may. Plain /engines lists only engines with null here; /engines?all=true lists every engine.
    withdrawn: Withdrawn | None = None
    # Where it is in its life (starting, ready, unhealthy, stopped, draining), for operators.
    phase: Phase = Phase.ready


class StreamOut(msgspec.Struct):
    id: str
    key_type: Literal["content_id", "infohash", "url", "magnet"]
    key: str
    container_id: str
    playback_session_id: str
    stat_url: str
    command_url: str
    is_live: bool
    started_at: datetime
    ended_at: datetime | None
    status: Literal["started", "ended"]
    end_reason: str | None = None  # the proxy's reason, or stale, engine_removed, stopped_by_api, ...


class EngineDetail(msgspec.Struct):
    engine: EngineOut
    streams: list[StreamOut]


class EngineAddress(msgspec.Struct):
    host: str
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)]


class StreamKey(msgspec.Struct):
    key_type: Literal["content_id", "infohash", "url", "magnet"]
    key: str


class Session(msgspec.Struct):
    playback_session_id: str
    stat_url: str = ""
    command_url: str = ""
    is_live: bool | Literal[0, 1] = False  # acexy sends 1


class StreamLabels(msgspec.Struct):
    stream_id: str | None = None


class StreamStartedBody(msgspec.Struct):
    engine: EngineAddress
    stream: StreamKey
    session: Session
    container_id: str | None = None
    labels: StreamLabels = msgspec.field(default_factory=StreamLabels)


class StreamEndedBody(msgspec.Struct):
    container_id: str | None = None
    stream_id: str | None = None
    reason: str | None = None


class Removed(msgspec.Struct):
    container_id: str
    container_name: str
    removed: bool = True


class Scaled(msgspec.Struct):
    desired: int
    engines: int
    min_replicas: int
    max_replicas: int


def engine_out(state: StackState, engine: Engine) -> EngineOut:
    return EngineOut(
        container_id=engine.container_id,
        container_name=engine.container_name,
        host=state.config.env.engine_host,
        port=engine.host_http_port,
        labels=engine.labels,
        forwarded=engine.forwarded,
        first_seen=engine.first_seen,
        last_seen=engine.last_seen,
        health_status=engine.health_status.value,
        last_health_check=engine.last_health_check,
        last_stream_usage=engine.last_stream_usage,
        last_cache_cleanup=engine.last_cache_cleanup,
        cache_size_bytes=engine.cache_size_bytes,
        streams=sorted(engine.streams),
        vpn_container=engine.vpn_container,
        vpn=engine.slot.vpn,
        container_http_port=engine.slot.http,
        withdrawn=state.withdrawal(engine),
        phase=engine_phase(
            ready=engine.ready,
            running=engine.container_running,
            unhealthy=engine.health_status is HealthStatus.unhealthy,
            draining=engine.draining is not None,
        ),
    )


class LivePositionOut(msgspec.Struct):
    last: int | None
    live_first: int | None
    live_last: int | None
    pos: int | None
    first_ts: int | None
    last_ts: int | None
    buffer_pieces: int | None


class StatOut(msgspec.Struct):
    """One snapshot of a started stream, from its stat_url (speeds in KB/s, totals in bytes)."""

    at: datetime
    status: str
    peers: int | None
    speed_down: int | None
    speed_up: int | None
    downloaded: int | None
    uploaded: int | None
    livepos: LivePositionOut | None


class StreamStopped(msgspec.Struct):
    stream: StreamOut
    engine_confirmed: bool  # the engine answered method=stop (false: unreachable; ended all the same)


def stat_out(sample: StatSample) -> StatOut:
    stat, live = sample.stat, sample.stat.livepos
    return StatOut(
        at=sample.at,
        status=stat.status,
        peers=stat.peers,
        speed_down=stat.speed_down,
        speed_up=stat.speed_up,
        downloaded=stat.downloaded,
        uploaded=stat.uploaded,
        livepos=None if live is None else LivePositionOut(**dataclasses.asdict(live)),
    )


def stream_out(stream: Stream) -> StreamOut:
    return StreamOut(
        id=stream.id,
        key_type=stream.key_type.value,
        key=stream.key,
        container_id=stream.container_id,
        playback_session_id=stream.playback_session_id,
        stat_url=stream.stat_url,
        command_url=stream.command_url,
        is_live=stream.is_live,
        started_at=stream.started_at,
        ended_at=stream.ended_at,
        status=stream.status.value,
        end_reason=stream.end_reason,
    )
