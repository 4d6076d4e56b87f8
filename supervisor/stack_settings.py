"""The stack settings: what the generator hands the supervisor.

This is the seam between the two halves. The generator computes it once from a profile (as part of the
plan) and renders it into the compose file; the supervisor reads it back at start-up. Both import these
models, so a field renamed on one side breaks the other in a test, not in production.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Strict: a YAML `true` or "8000" is refused, not read as port 1 or coerced.
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]

_RANGE_TEXT = re.compile(r" *([0-9]{1,5}) *- *([0-9]{1,5}) *")


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PortRange(Frozen):
    """An inclusive range of ports, written "40000-40019" or {first: 40000, last: 40019}."""

    first: Port
    last: Port

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _RANGE_TEXT.fullmatch(value)
            if not match:
                raise ValueError(f"expected a port range like '19000-19019', got {value[:40]!r}")
            return {"first": int(match.group(1)), "last": int(match.group(2))}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> PortRange:
        if self.last < self.first:
            raise ValueError(
                f"range {self.first}-{self.last} ends before it starts; write it as {self.last}-{self.first}"
            )
        return self

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def overlaps(self, other: PortRange) -> bool:
        return self.first <= other.last and other.first <= self.last

    def shifted(self, offset: int) -> PortRange:
        return PortRange(first=self.first + offset, last=self.last + offset)

    def ports(self) -> range:
        return range(self.first, self.last + 1)


class Mode(StrEnum):
    standalone = "standalone"
    single = "single"
    redundant = "redundant"


# How many gluetun VPNs each mode runs.
VPNS_PER_MODE = {Mode.standalone: 0, Mode.single: 1, Mode.redundant: 2}


class PortStyle(StrEnum):
    """How an engine image is told its ports (see supervisor.core.engine_environment)."""

    conf = "conf"  # krinkuto11: CONF lines plus HTTP_PORT/HTTPS_PORT/BIND_ALL
    acestream_args = "acestream_args"  # jopsis: ACESTREAM_ARGS
    extra_flags = "extra_flags"  # martinbjeldbak: EXTRA_FLAGS and ALLOW_REMOTE_ACCESS


class CacheMode(StrEnum):
    """Where an engine keeps its cache (see supervisor.core.environment.cache_flags)."""

    disk = "disk"  # its cache directory in the container's writable layer, capped by --cache-limit
    memory = "memory"  # live streams cached in RAM (--live-cache-type memory, --live-mem-cache-size)
    tmpfs = "tmpfs"  # its cache directory on a tmpfs mount of `limit` bytes (the kernel holds the cap)


GIB = 1 << 30
MIB = 1 << 20
_BYTE_SIZE: TypeAdapter[ByteSize] = TypeAdapter(ByteSize)
# The smallest cap each mode takes: the engine's --cache-limit counts whole GiB; a live stream needs some
# megabytes of buffer in RAM or on a tmpfs.
CACHE_LIMIT_MIN = {CacheMode.disk: GIB, CacheMode.memory: 16 * MIB, CacheMode.tmpfs: 16 * MIB}
CACHE_LIMIT_MAX = 1 << 40
CACHE_LIMIT_DEFAULT = 4 * GIB


class CacheSettings(Frozen):
    """The engines' cache policy. `limit` is what the engine is told (its cache cap, its memory cache's
    size, or its tmpfs's size) and, in every mode, the disk use past which an idle engine is replaced."""

    mode: CacheMode = CacheMode.disk
    limit: ByteSize = ByteSize(CACHE_LIMIT_DEFAULT)

    @field_validator("limit", mode="before")
    @classmethod
    def _size(cls, value: Any) -> ByteSize:
        """Sizes are read by pydantic's ByteSize ("4GiB", "512 MiB", "2GB", or bytes as an integer)."""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(_SIZE_HINT.format(got=f"a {type(value).__name__}"))
        try:
            return _BYTE_SIZE.validate_python(value)
        except ValidationError:
            raise ValueError(_SIZE_HINT.format(got=repr(str(value)[:40]))) from None

    @field_validator("limit")
    @classmethod
    def _bounded(cls, limit: ByteSize, info: ValidationInfo) -> ByteSize:
        mode = info.data.get("mode")
        if not isinstance(mode, CacheMode):
            return limit  # the mode's own error says what is wrong
        least = CACHE_LIMIT_MIN[mode]
        if not least <= limit <= CACHE_LIMIT_MAX:
            why, example = {
                CacheMode.disk: ("the engine's --cache-limit counts whole GiB", "4GiB"),
                CacheMode.memory: ("a live stream needs its buffer in RAM", "256MiB"),
                CacheMode.tmpfs: ("a live stream needs its buffer on the tmpfs", "1GiB"),
            }[mode]
            raise ValueError(
                f"{limit.human_readable()} is outside {ByteSize(least).human_readable()}-1TiB, the range of "
                f"mode {mode.value} ({why}); give a size in it, such as {example}"
            )
        return limit


_SIZE_HINT = (
    "{got} is not a size; write a number and a unit, such as 4GiB or 512MiB (KiB/MiB/GiB count 1024s, "
    "KB/MB/GB 1000s), or a number of bytes"
)


class EngineSettings(Frozen):
    image: str
    port_style: PortStyle
    # Variables a provision request may set on the engine (none by default: a request's env could break
    # the image, e.g. PATH, and so every later start; the profile lists what its proxies may set).
    allowed_env: tuple[str, ...] = ()
    # "schedule": pulled at start-up (in the background) and every timings.image_check_interval_s;
    # "never": an image built or loaded locally, only checked for being there.
    image_pull: Literal["schedule", "never"] = "schedule"
    cache: CacheSettings = CacheSettings()


class EnginePorts(Frozen):
    """Ports engines use. Slot i of each range belongs to the same engine."""

    http: PortRange  # published on the host (on the gluetun in VPN modes)
    https: PortRange  # inside the network namespace only
    p2p: PortRange  # inside the network namespace only

    def __len__(self) -> int:
        return len(self.http)


class VpnSettings(Frozen):
    service: str  # the compose service name of this gluetun
    control_port: Port
    control_api_key_env: str  # the environment variable holding the control-server API key
    port_forwarding: bool
    engine_ports: EnginePorts


class ReplicaSettings(Frozen):
    model_config = ConfigDict(strict=True)

    min: int = Field(default=1, ge=0)
    min_free: int = Field(default=1, ge=0)
    max: int = Field(default=10, ge=1)
    max_streams_per_engine: int = Field(default=1, ge=1)
    # Containers kept created but not started, so a cold provision only starts one (no create).
    standby: int = Field(default=0, ge=0)
    # created: no CPU or memory, a provision starts it; paused: started, answered once, then frozen
    # (`docker pause`: its memory kept, no CPU), a provision only thaws an engine that is up already.
    standby_mode: Literal["created", "paused"] = "created"


class TimingSettings(Frozen):
    model_config = ConfigDict(strict=True, allow_inf_nan=False)

    health_check_interval_s: float = Field(default=20, gt=0)
    health_failure_threshold: int = Field(default=3, ge=1)
    health_unhealthy_grace_period_s: float = Field(default=60, ge=0)
    health_replacement_cooldown_s: float = Field(default=60, ge=0)
    autoscale_interval_s: float = Field(default=30, gt=0)
    engine_grace_period_s: float = Field(default=30, ge=0)
    startup_timeout_s: float = Field(default=25, gt=0)
    vpn_check_interval_s: float = Field(default=5, gt=0)
    vpn_restart_timeout_s: float = Field(default=60, gt=0)  # a gluetun down this long is restarted
    vpn_stabilization_s: float = Field(default=30, ge=0)  # a VPN back up this long takes new engines first
    engine_restart_window_s: float = Field(default=2, ge=0)  # a stopped engine not back by then: replaced
    image_check_interval_s: float = Field(default=21600, gt=0)  # the engine image is pulled this often
    # How often every engine's disk use is measured (one Docker listing with sizes; see docs/OPERATIONS.md).
    cache_check_interval_s: float = Field(default=60, gt=0)
    circuit_breaker_failure_threshold: int = Field(default=5, ge=1)
    circuit_breaker_recovery_timeout_s: float = Field(default=300, gt=0)


# In standalone mode every engine has its own network namespace, so it listens on the engine's defaults.
STANDALONE_CONTAINER_HTTP_PORT = 6878
STANDALONE_CONTAINER_HTTPS_PORT = 6879
STANDALONE_CONTAINER_P2P_PORT = 8621


class StackSettings(Frozen):
    """Everything the supervisor needs to know about its stack, computed by the generator's plan."""

    stack: str
    mode: Mode
    profile: str
    supervisor_port: Port
    host_ip: str | None = None  # the host address published ports bind to; None means every address
    api_key_env: str  # the environment variable holding the supervisor's own API key
    engine: EngineSettings
    # Standalone: the host ports engines publish. VPN modes: empty, the ranges live on each VPN.
    standalone_http: PortRange | None = None
    vpns: tuple[VpnSettings, ...] = Field(default=(), max_length=max(VPNS_PER_MODE.values()))
    replicas: ReplicaSettings = ReplicaSettings()
    timings: TimingSettings = TimingSettings()

    def published_engine_ranges(self) -> dict[str | None, PortRange]:
        """The host ports engines may get, keyed by VPN service (None for standalone)."""
        if self.standalone_http is not None:
            return {None: self.standalone_http}
        return {vpn.service: vpn.engine_ports.http for vpn in self.vpns}


# Where the rendered settings are mounted in the supervisor container; the compose config name.
SETTINGS_CONFIG_NAME = "supervisor-settings"
SETTINGS_PATH_IN_CONTAINER = "/etc/ace-supervisor/settings.json"
SUPERVISOR_SERVICE = "supervisor"
