"""Profiles: the declarative YAML a user writes, validated by pydantic with unknown keys refused.

A profile may `extends:` another file (a path relative to itself); mappings merge key by key, the
extending file winning, and lists are replaced whole. Defaults live here and nowhere else.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from generator.errors import UserError
from generator.yaml_io import load_yaml_file
from supervisor.stack_settings import Mode, Port, PortRange, PortStyle, ReplicaSettings, TimingSettings

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"  # a compose project / service name


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
    image: str | None = Field(default=None, description="overrides the variant's image")
    port_style: PortStyle | None = Field(default=None, description="overrides the variant's port passing")

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
    https_offset: int = Field(default=1000, description="engine HTTPS port = HTTP port + this (VPN modes)")
    p2p_offset: int = Field(default=2000, description="engine P2P port = HTTP port + this (VPN modes)")
    supervisor: Port = 8000
    host_ip: str | None = Field(
        default=None, description="host address published ports bind to; unset means every address"
    )


class SupervisorProfile(Strict):
    api_key_env: str = Field(default="SUPERVISOR_API_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$")


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


class VpnProfile(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    image: str = GLUETUN_IMAGE
    env_file: str | None = Field(default=None, description="provider settings; default ./<name>.env")
    port_forwarding: bool = False
    control_port: Port = 8000
    control_api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    engine_http: PortRange | None = Field(default=None, description="this VPN's share of ports.engine_http")

    @model_validator(mode="after")
    def _pinned(self) -> VpnProfile:
        tag = self.image.rsplit(":", 1)[1] if ":" in self.image.rsplit("/", 1)[-1] else ""
        if tag in ("", "latest"):
            raise ValueError(f"pin the gluetun image to a version, for example {GLUETUN_IMAGE!r}")
        return self

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
    stack: str = Field(pattern=NAME_PATTERN, description="the compose project name")
    mode: Mode
    engine: EngineProfile = EngineProfile()
    replicas: ReplicaSettings = ReplicaSettings()
    timings: TimingSettings = TimingSettings()
    ports: PortsProfile
    supervisor: SupervisorProfile = SupervisorProfile()
    vpns: list[VpnProfile] = []


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise UserError(f"{path}: extends: loops back on itself ({chain}); remove one of the extends")
    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: a profile must be a YAML mapping of keys, got {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise UserError(f"{path}: extends: must be a file path relative to the profile, got {parent!r}")
    parent_path = (path.parent / parent).resolve()
    if not parent_path.is_file():
        raise UserError(f"{path}: extends: {parent!r} not found (looked for {parent_path})")
    return _merge(_load_raw(parent_path, (*seen, path)), data)


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: the field path, what is wrong, and for unknown keys which are allowed."""
    lines = [f"{source}: invalid profile"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = f"unknown key; allowed here: {', '.join(_allowed_keys(item['loc']))}"
        elif item["type"] == "missing":
            message = "required; add it to the profile"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


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


def load_profile(path: Path) -> Profile:
    raw = _load_raw(path.resolve())
    try:
        return Profile.model_validate(raw)
    except ValidationError as error:
        raise UserError(format_validation_error(str(path), error)) from None
