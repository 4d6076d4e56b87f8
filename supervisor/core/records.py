"""The supervisor's records of engines and streams: plain data the API, store and loops share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from supervisor.core.changes import Counted, CountedSet
from supervisor.core.health import HealthStatus
from supervisor.core.ports import Slot


@dataclass(frozen=True)
class Standby:
    """A container created from the current settings and never started (or, in paused mode, started once
    and frozen once its engine answered): a cold provision starts (thaws) it instead of creating one. Not
    an engine: offered to nobody and not counted against `max` until started."""

    container_id: str
    name: str
    slot: Slot
    labels: dict[str, str]
    network_mode: str | None  # "container:<gluetun id>" in VPN modes
    image_id: str | None = None
    paused: bool = False  # replicas.standby_mode paused: started once, answered, then frozen


@dataclass
class Engine(Counted):  # every change counts, for the read answers (core/changes.py)
    container_id: str
    container_name: str
    slot: Slot
    vpn_container: str | None  # the gluetun's container name (None in standalone mode)
    forwarded: bool
    labels: dict[str, str]
    first_seen: datetime
    last_seen: datetime
    started_monotonic: float  # when this supervisor created or adopted it
    health_status: HealthStatus = HealthStatus.unknown
    ready: bool = False  # its HTTP API has answered at least once
    consecutive_failures: int = 0
    unhealthy_since: float | None = None
    last_health_check: datetime | None = None
    last_stream_usage: datetime | None = None
    idle_since: float = 0.0
    streams: set[str] = field(default_factory=CountedSet)  # ids of its active streams
    vpn_container_id: str | None = None
    container_running: bool = True  # as Docker last reported it
    stopped_since: float | None = None  # when Docker reported it not running (monotonic)
    draining: str | None = None  # why it takes no new viewers and leaves once idle (None: it is not)
    adopted: bool = False  # found running rather than created by this supervisor
    claimed_until: float = 0.0  # handed to a provision request: not handed out again before this
    image_id: str | None = None  # the image it runs (another id than the current one: replaced when idle)
    live_sessions: int | None = None  # sessions the engine itself reports (None: unknown)
    cache_size_bytes: int | None = None  # its container's disk use at the last cache pass (None: unmeasured)
    last_cache_cleanup: datetime | None = None  # when a cache pass last saw that disk use shrink

    @property
    def host_http_port(self) -> int:
        return self.slot.host_http


def serving(engine: Engine) -> bool:
    """It carries a stream the supervisor recorded, or one the engine itself reports (recorded or not)."""
    return bool(engine.streams) or bool(engine.live_sessions)


# Ended streams kept in SQLite (GET /streams); older ones are dropped. Active streams are always kept.
STREAM_RETENTION = 10_000


class StreamStatus(StrEnum):
    started = "started"
    ended = "ended"


class KeyType(StrEnum):
    content_id = "content_id"
    infohash = "infohash"
    url = "url"
    magnet = "magnet"


@dataclass
class Stream:
    id: str
    key_type: KeyType
    key: str
    container_id: str  # the engine's
    playback_session_id: str
    stat_url: str
    command_url: str
    is_live: bool
    started_at: datetime
    ended_at: datetime | None = None
    status: StreamStatus = StreamStatus.started
    end_reason: str | None = None
