"""Fixtures for supervisor tests: stack settings per mode, configs, a manual clock, fake runtime, probes.

Helpers are handed out as fixtures (this directory is not an importable package: its name would shadow
the `supervisor` package).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor.core.clock import ManualClock
from supervisor.probes import ProbeFailure, VpnReport
from supervisor.runtime.fake import FakeRuntime
from supervisor.settings import Config, EnvironmentSettings
from supervisor.stack_settings import StackSettings

API_KEY = "test-key-0123456789"


def stack_settings(
    mode: str = "standalone", *, max_replicas: int = 10, size: int = 10, **replicas: int
) -> StackSettings:
    base: dict[str, object] = {
        "stack": f"acestream-{mode}",
        "mode": mode,
        "profile": mode,
        "supervisor_port": 8000,
        "api_key_env": "SUPERVISOR_API_KEY",
        "engine": {"image": "engine:test", "port_style": "conf"},
        "replicas": {"min": 0, "min_free": 0, "max": max_replicas, **replicas},
    }
    if mode == "standalone":
        base["standalone_http"] = f"19000-{19000 + size - 1}"
    else:
        services = ["gluetun"] if mode == "single" else ["gluetun", "gluetun-2"]
        base["vpns"] = [
            {
                "service": service,
                "control_port": 8000,
                "control_api_key_env": f"{service.upper().replace('-', '_')}_API_KEY",
                "port_forwarding": index == 0,
                "engine_ports": {
                    "http": f"{40000 + index * size}-{40000 + index * size + size - 1}",
                    "https": f"{41000 + index * size}-{41000 + index * size + size - 1}",
                    "p2p": f"{42000 + index * size}-{42000 + index * size + size - 1}",
                },
            }
            for index, service in enumerate(services)
        ]
    return StackSettings.model_validate(base)


def make_config(stack: StackSettings, tmp_path: Path, **env: object) -> Config:
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps(stack.model_dump(mode="json")))
    environment = EnvironmentSettings.model_validate(
        {"settings": settings_file, "db_path": tmp_path / "supervisor.db", "project": stack.stack, **env}
    )
    keys = {vpn.service: f"{vpn.service}-key" for vpn in stack.vpns}
    return Config(stack, environment, API_KEY, keys)


class FakeProbes:
    """Engines answer unless listed in `silent`; VPNs report `vpn_status` (or fail when None)."""

    def __init__(self) -> None:
        self.silent: set[int] = set()
        self.vpn_status: str | None = "running"
        self.forwarded_port: int | None = 5914
        self.engine_calls: list[tuple[str, int]] = []

    async def engine_answers(self, host: str, port: int) -> bool:
        self.engine_calls.append((host, port))
        return port not in self.silent

    async def vpn_report(self, host: str, port: int, api_key: str, port_forwarding: bool) -> VpnReport:
        if self.vpn_status is None:
            raise ProbeFailure(f"control server {host}:{port}: connection refused")
        return VpnReport(self.vpn_status, self.forwarded_port if port_forwarding else None)

    async def close(self) -> None:
        return None


StackFactory = Callable[..., StackSettings]
ConfigFactory = Callable[..., Config]


@pytest.fixture
def settings_for() -> StackFactory:
    return stack_settings


@pytest.fixture
def config_for(tmp_path: Path) -> ConfigFactory:
    def build(stack: StackSettings, **env: object) -> Config:
        return make_config(stack, tmp_path, **env)

    return build


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def probes() -> FakeProbes:
    return FakeProbes()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
