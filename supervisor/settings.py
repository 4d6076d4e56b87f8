"""The supervisor's settings: the stack settings the generator rendered, plus environment overrides.

Ports, ranges, replicas and timings come only from the rendered file (one source of truth, the plan);
the environment holds secrets and deployment details. Everything is validated once at start-up, and a
bad or missing value stops the service with a message naming the variable.
"""

from __future__ import annotations

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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


@dataclass(frozen=True)
class Config:
    stack: StackSettings
    env: EnvironmentSettings
    api_key: str | None
    vpn_api_keys: dict[str, str]

    @property
    def listen_port(self) -> int:
        return self.env.port or self.stack.supervisor_port


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    try:
        env = EnvironmentSettings.model_validate(_prefixed(environ))
    except ValidationError as error:
        problems = "; ".join(
            f"{ENV_PREFIX}{str(problem['loc'][0]).upper()}: {problem['msg']}" for problem in error.errors()
        )
        raise ConfigError(problems) from None
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
    try:
        return StackSettings.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{SETTINGS_ENV}: settings file {path} not found; mount the rendered settings or point "
            f"{SETTINGS_ENV} at it"
        ) from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'file'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise ConfigError(f"{SETTINGS_ENV}: {path} is not valid stack settings: {problems}") from None
