"""Profiles: the declarative YAML a user writes, validated by pydantic with unknown keys refused.

A profile may `extends:` another file (a path relative to itself); mappings merge key by key, the
extending file winning, and lists are replaced whole. Defaults live here and nowhere else.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from generator.errors import UserError
from generator.fields import (
    ENV_NAME_PATTERN,
    EngineEnvName,
    EnvName,
    HostIp,
    ImageRef,
    PinnedImageRef,
    RelativePath,
    ServiceName,
    SocketPath,
    StackName,
    reserved_env_problem,
)
from generator.paths import SHIPPED_PROFILES_DIR
from generator.yaml_io import excerpt, load_yaml_file
from supervisor.stack_settings import (
    CacheSettings,
    Mode,
    Port,
    PortRange,
    PortStyle,
    ReplicaSettings,
    TimingSettings,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineVariant(StrEnum):
    krinkuto11 = "krinkuto11"
    jopsis = "jopsis"
    martinbjeldbak = "martinbjeldbak"


# The engine images users run today, and how each is told its ports.
ENGINE_PRESETS: dict[EngineVariant, tuple[str, PortStyle]] = {
    EngineVariant.krinkuto11: ("ghcr.io/krinkuto11/acestream-http-proxy:latest", PortStyle.conf),
    EngineVariant.jopsis: ("jopsis/acestream:x64", PortStyle.acestream_args),
    EngineVariant.martinbjeldbak: ("martinbjeldbak/acestream-http-proxy:latest", PortStyle.extra_flags),
}

GLUETUN_IMAGE = "qmcgaw/gluetun:v3.41.1"


class EngineProfile(Strict):
    variant: EngineVariant | None = EngineVariant.krinkuto11
    image: ImageRef | None = Field(default=None, description="overrides the variant's image")
    port_style: PortStyle | None = Field(default=None, description="overrides the variant's port passing")
    allowed_env: list[EngineEnvName] = Field(
        default=[], max_length=64, description="variables a provision request may set on an engine"
    )
    image_pull: Literal["schedule", "never"] = Field(
        default="schedule",
        description="schedule: pulled at start-up and every timings.image_check_interval_s; never: a local "
        "image, only checked for being there",
    )
    cache: CacheSettings = Field(
        default=CacheSettings(),
        description="where engines cache (disk, memory or tmpfs) and the size cap; an idle engine whose "
        "disk use passes it is replaced",
    )

    @model_validator(mode="after")
    def _resolvable(self) -> EngineProfile:
        if self.variant is None and (self.image is None or self.port_style is None):
            raise ValueError("without a variant, give both engine.image and engine.port_style")
        return self

    def resolved(self) -> tuple[str, PortStyle]:
        preset_image, preset_style = ENGINE_PRESETS[self.variant] if self.variant else (None, None)
        image = self.image or preset_image
        style = self.port_style or preset_style
        assert image is not None and style is not None  # guaranteed by _resolvable
        return image, style


class PortsProfile(Strict):
    engine_http: PortRange = Field(description="host ports for engine HTTP APIs, split between VPNs")
    https_offset: StrictInt = Field(
        default=1000, description="engine HTTPS port = HTTP port + this (VPN modes)"
    )
    p2p_offset: StrictInt = Field(default=2000, description="engine P2P port = HTTP port + this (VPN modes)")
    supervisor: Port = 8000
    host_ip: HostIp | None = Field(
        default=None, description="host address published ports bind to; unset means every address"
    )


SUPERVISOR_IMAGE = "acestream-orchestrator-supervisor:local"
DOCKER_SOCKET = "/var/run/docker.sock"


class SupervisorProfile(Strict):
    api_key_env: EnvName = "SUPERVISOR_API_KEY"
    image: ImageRef = Field(default=SUPERVISOR_IMAGE, description="the supervisor's image")


class DockerProfile(Strict):
    socket: SocketPath = Field(
        default=DOCKER_SOCKET, description="the host's Docker socket the supervisor manages engines through"
    )


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


class VpnProfile(Strict):
    name: ServiceName
    image: PinnedImageRef = GLUETUN_IMAGE
    env_file: RelativePath | None = Field(default=None, description="provider settings; default ./<name>.env")
    port_forwarding: StrictBool = False
    control_port: Port = 8000
    control_api_key_env: EnvName | None = None
    engine_http: PortRange | None = Field(default=None, description="this VPN's share of ports.engine_http")

    @field_validator("name")
    @classmethod
    def _makes_variable_names(cls, name: str) -> str:
        """The name prefixes the VPN's variables (<NAME>_ENV_FILE, <NAME>_API_KEY): both must be valid."""
        variable = f"{_env_name(name)}_ENV_FILE"
        if not re.fullmatch(ENV_NAME_PATTERN, variable):
            raise ValueError(
                f"{name!r} makes the variable {variable}, which is not a variable name; "
                "start the VPN's name with a letter"
            )
        problem = reserved_env_problem(variable)
        if problem:
            raise ValueError(f"{name!r} makes the variable {variable}, but {problem}; rename the VPN")
        return name

    @property
    def api_key_env(self) -> str:
        return self.control_api_key_env or f"{_env_name(self.name)}_API_KEY"

    @property
    def env_file_env(self) -> str:
        """The .env variable that points at this VPN's provider settings file."""
        return f"{_env_name(self.name)}_ENV_FILE"

    @property
    def default_env_file(self) -> str:
        return self.env_file or f"./{self.name}.env"


class Profile(Strict):
    stack: StackName = Field(description="the compose project name")
    mode: Mode
    engine: EngineProfile = EngineProfile()
    replicas: ReplicaSettings = ReplicaSettings()
    timings: TimingSettings = TimingSettings()
    ports: PortsProfile
    supervisor: SupervisorProfile = SupervisorProfile()
    docker: DockerProfile = DockerProfile()
    vpns: list[VpnProfile] = Field(default=[], max_length=8)


# `extends: builtin:NAME` names a profile shipped with gen (profiles/NAME.yaml in the package).
BUILTIN_PREFIX = "builtin:"
MAX_EXTENDS = 8


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Key-by-key merge, the override winning; each key of the override is visited once (linear time)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parent_path(path: Path, parent: object) -> Path:
    if not isinstance(parent, str) or not parent or "\n" in parent:
        raise UserError(
            f"{path}: extends: must be a file path relative to the profile or {BUILTIN_PREFIX}NAME, "
            f"got {excerpt(parent)}"
        )
    if parent.startswith(BUILTIN_PREFIX):
        name = parent.removeprefix(BUILTIN_PREFIX).removesuffix(".yaml")
        candidate = SHIPPED_PROFILES_DIR / f"{name}.yaml"
        if not re.fullmatch(r"[a-z0-9_][a-z0-9_-]*", name) or not candidate.is_file():
            shipped = ", ".join(sorted(p.stem for p in SHIPPED_PROFILES_DIR.glob("*.yaml")))
            raise UserError(f"{path}: extends: no shipped profile {excerpt(name)}; choose one of: {shipped}")
        return candidate
    try:
        resolved = (path.parent / parent).resolve()
        found = resolved.is_file()
    except (OSError, ValueError, RuntimeError):  # NUL bytes, names too long, symlink loops
        found = False
        resolved = path.parent / "<unreadable path>"
    if not found:
        raise UserError(
            f"{path}: extends: {excerpt(parent)} not found (looked for {excerpt(str(resolved), 120)})"
        )
    return resolved


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise UserError(f"{path}: extends: loops back on itself ({chain}); remove one of the extends")
    if len(seen) >= MAX_EXTENDS:
        raise UserError(f"{path}: extends: more than {MAX_EXTENDS} profiles deep; flatten the chain")
    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: a profile must be a YAML mapping of keys, got {type(data).__name__}")
    if "extends" not in data:
        return data
    parent = data.pop("extends")
    return _merge(_load_raw(_parent_path(path, parent), (*seen, path)), data)


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: the field path, what is wrong, and for unknown keys which are allowed."""
    lines = [f"{source}: invalid profile"]
    for item in error.errors():
        where = _field_path(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown key; allowed here: {', '.join(_allowed_keys(item['loc']))}"
        elif item["type"] == "missing":
            message = "required; add it to the profile"
        elif item["type"] != "value_error":  # our own messages quote the value already
            message = f"{message} (got {excerpt(item.get('input'))})"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def _field_path(loc: tuple[int | str, ...]) -> str:
    """("vpns", 0, "image") -> "vpns[0].image", as the docs and the plan's messages write fields."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Profile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[str(part)].annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
    return sorted(model.model_fields)


def load_profile(path: Path, shown: str | None = None) -> Profile:
    """The profile at path, validated; errors name it as `shown` (default: the path as given)."""
    raw = _load_raw(path.resolve())
    try:
        return Profile.model_validate(raw)
    except ValidationError as error:
        raise UserError(format_validation_error(shown or str(path), error)) from None
