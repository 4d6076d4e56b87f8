"""The supervisor's settings: the stack settings the generator rendered, plus environment overrides.

Ports, ranges, replicas and timings come only from the rendered file (one source of truth, the plan);
the environment holds secrets and deployment details. Everything is validated once at start-up, and a
bad or missing value stops the service with a message naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from supervisor.stack_settings import SETTINGS_PATH_IN_CONTAINER, StackSettings

ENV_PREFIX = "ACE_SUPERVISOR_"
SETTINGS_ENV = f"{ENV_PREFIX}SETTINGS"
EVERY_ADDRESS = "0.0.0.0"  # where the supervisor listens when neither the override nor the stack says


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable and the fix."""


class EnvironmentSettings(BaseSettings):
    """Overrides read from ACE_SUPERVISOR_* variables (names below, upper-cased with the prefix)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    settings: Path = Path(SETTINGS_PATH_IN_CONTAINER)  # the rendered stack settings (JSON)
    db_path: Path = Path("/data/supervisor.db")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    insecure_no_auth: bool = False  # serve without an API key (logged loudly); never in production
    project: str | None = None  # the compose project, when not learnt from the supervisor's own container
    docker_host: str | None = None  # default: DOCKER_HOST or the local socket
    network: str | None = None  # the network standalone engines join; default: the supervisor's own
    engine_host: str = "localhost"  # the host reported in /engines (clients reach engines on it)
    probe_host: str | None = None  # reach engines on this host's published ports instead of the network
    max_in_flight: int = Field(default=8, ge=1, le=64)  # container creations running at once
    readiness_interval_s: float = Field(default=1.0, gt=0)
    port: int | None = Field(default=None, ge=1, le=65535)  # listen port; default: the rendered one
    bind: str | None = None  # listen address; default: the stack's host_ip, else every address
    # The dashboard's views (GET /dashboard/state, GET /events/stream) open without the key; its actions
    # still need it. Off: the page asks for the key before it shows anything.
    dashboard_read_only: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("bind")
    @classmethod
    def _ip_address(cls, value: str | None) -> str | None:
        """An address uvicorn can bind; a host name would be resolved, and could change, at every start."""
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address; set an address of this host, such as 127.0.0.1, "
                f"or {EVERY_ADDRESS} (every IPv4 address) or :: (every address)"
            ) from None


@dataclass(frozen=True)
class Config:
    stack: StackSettings
    env: EnvironmentSettings
    api_key: str | None
    vpn_api_keys: dict[str, str]

    @property
    def listen_port(self) -> int:
        return listen_port(self.env, self.stack)

    @property
    def listen_host(self) -> str:
        return listen_host(self.env, self.stack)


def listen_host(env: EnvironmentSettings, stack: StackSettings) -> str:
    """Listen where the stack publishes its ports (host_ip), so a stack kept to 127.0.0.1 stays there."""
    return env.bind or stack.host_ip or EVERY_ADDRESS


def listen_port(env: EnvironmentSettings, stack: StackSettings) -> int:
    return env.port or stack.supervisor_port


def load_environment(environ: Mapping[str, str] | None = None) -> EnvironmentSettings:
    """The ACE_SUPERVISOR_* overrides alone (the healthcheck needs no API keys)."""
    environ = os.environ if environ is None else environ
    try:
        return EnvironmentSettings.model_validate(_prefixed(environ))
    except ValidationError as error:
        problems = "; ".join(
            f"{ENV_PREFIX}{str(problem['loc'][0]).upper()}: {_message(problem['msg'])}"
            for problem in error.errors()
        )
        raise ConfigError(problems) from None


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    env = load_environment(environ)
    stack = read_stack(env.settings)
    api_key = environ.get(stack.api_key_env) or None
    if api_key is None and not env.insecure_no_auth:
        raise ConfigError(
            f"{stack.api_key_env}: no API key set; set it (the stack's .env holds one), or start with "
            f"{ENV_PREFIX}INSECURE_NO_AUTH=true to serve without authentication"
        )
    vpn_api_keys: dict[str, str] = {}
    for vpn in stack.vpns:
        key = environ.get(vpn.control_api_key_env)
        if not key:
            raise ConfigError(
                f"{vpn.control_api_key_env}: the control-server API key of {vpn.service} is not set; "
                "the supervisor needs it to read the VPN status"
            )
        vpn_api_keys[vpn.service] = key
    return Config(stack, env, api_key, vpn_api_keys)


def _prefixed(environ: Mapping[str, str]) -> dict[str, str]:
    """Pass only our variables explicitly, so tests can load from a dict instead of os.environ."""
    fields = EnvironmentSettings.model_fields
    return {
        name: environ[f"{ENV_PREFIX}{name.upper()}"]
        for name in fields
        if f"{ENV_PREFIX}{name.upper()}" in environ
    }


def read_stack(path: Path) -> StackSettings:
    """The rendered stack settings; any unreadable or invalid file is a ConfigError naming the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(_unreadable(path, error)) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{SETTINGS_ENV}: {path} is not UTF-8 text (byte {error.start}), so not rendered stack settings; "
            f"point {SETTINGS_ENV} at the settings file the generator rendered (JSON)"
        ) from None
    try:
        return StackSettings.model_validate_json(text)
    except ValidationError as error:
        raise ConfigError(_invalid(path, error)) from None


def _unreadable(path: Path, error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return (
            f"{SETTINGS_ENV}: settings file {path} not found; mount the rendered settings or point "
            f"{SETTINGS_ENV} at it"
        )
    if isinstance(error, IsADirectoryError):
        # Docker creates an empty directory when a bind-mounted file is missing on the host.
        return (
            f"{SETTINGS_ENV}: {path} is a directory, not the settings file; point {SETTINGS_ENV} at the "
            "rendered settings file itself (a bind mount of a missing file makes an empty directory)"
        )
    if isinstance(error, PermissionError):
        return (
            f"{SETTINGS_ENV}: {path} is not readable (permission denied); make it readable by the user "
            "the supervisor runs as"
        )
    return (
        f"{SETTINGS_ENV}: cannot read {path} ({error.strerror or error}); point {SETTINGS_ENV} at a "
        "readable copy of the rendered settings"
    )


def _invalid(path: Path, error: ValidationError) -> str:
    problems = error.errors()
    if problems and problems[0]["type"] == "json_invalid":
        where = problems[0]["msg"].removeprefix("Invalid JSON: ")
        return (
            f"{SETTINGS_ENV}: {path} is not JSON ({where}); point {SETTINGS_ENV} at the settings file "
            "the generator rendered"
        )
    listed = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'file'}: {_message(problem['msg'])}"
        for problem in problems
    )
    return (
        f"{SETTINGS_ENV}: {path} is not valid stack settings: {listed}; render the stack again with the "
        "generator of this supervisor's version"
    )


def _message(text: str) -> str:
    """Our validators' own words, without pydantic's "Value error, " prefix."""
    return text.removeprefix("Value error, ")
