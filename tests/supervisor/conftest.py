"""Fixtures for supervisor tests: stack settings per mode, configs, a manual clock, fake runtime, probes.

Helpers are handed out as fixtures (this directory is not an importable package: its name would shadow
the `supervisor` package).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar

from supervisor.app import create_app
from supervisor.core.clock import ManualClock
from supervisor.core.stream_check import StreamStat
from supervisor.probes import ProbeFailure, VpnReport
from supervisor.runtime.fake import FakeRuntime
from supervisor.settings import Config, EnvironmentSettings
from supervisor.stack_settings import StackSettings

API_KEY = "test-key-0123456789"


def stack_settings(
    mode: str = "standalone",
    *,
    max_replicas: int = 10,
    size: int = 10,
    allowed_env: tuple[str, ...] = (),
    timings: dict[str, float] | None = None,
    image: str = "engine:test",
    cache: dict[str, object] | None = None,
    first_port: int = 19000,
    **replicas: int | str,
) -> StackSettings:
    base: dict[str, object] = {
        "stack": f"acestream-{mode}",
        "mode": mode,
        "profile": mode,
        "supervisor_port": 8000,
        "api_key_env": "SUPERVISOR_API_KEY",
        "engine": {
            "image": image,
            "port_style": "conf",
            "allowed_env": list(allowed_env),
            **({"cache": cache} if cache else {}),
        },
        "replicas": {"min": 0, "min_free": 0, "max": max_replicas, **replicas},
        "timings": timings or {},
    }
    if mode == "standalone":
        base["standalone_http"] = f"{first_port}-{first_port + size - 1}"
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


def make_config(stack: StackSettings, tmp_path: Path, api_key: str | None = API_KEY, **env: object) -> Config:
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps(stack.model_dump(mode="json")))
    environment = EnvironmentSettings.model_validate(
        {"settings": settings_file, "db_path": tmp_path / "supervisor.db", "project": stack.stack, **env}
    )
    keys = {vpn.service: f"{vpn.service}-key" for vpn in stack.vpns}
    return Config(stack, environment, api_key, keys)


class FakeProbes:
    """Engines answer unless listed in `silent`; VPNs report `vpn_status` (or fail when None)."""

    def __init__(self) -> None:
        self.silent: set[int] = set()
        self.vpn_status: str | None = "running"
        self.forwarded_port: int | None = 5914
        self.engine_calls: list[tuple[str, int]] = []
        self.ended_sessions: set[str] = set()  # sessions the engines say they no longer know
        self.stat_calls: list[str] = []
        self.stop_calls: list[str] = []
        self.public_ip: str | None = "203.0.113.7"
        self.stat_gate: asyncio.Event | None = None  # when set, stat answers wait for it

    async def engine_answers(self, host: str, port: int) -> bool:
        self.engine_calls.append((host, port))
        return port not in self.silent

    async def vpn_report(self, host: str, port: int, api_key: str, port_forwarding: bool) -> VpnReport:
        if self.vpn_status is None:
            raise ProbeFailure(f"control server {host}:{port}: connection refused")
        forwarded = self.forwarded_port if port_forwarding else None
        running = self.vpn_status == "running"
        return VpnReport(
            self.vpn_status,
            forwarded,
            (forwarded,) if forwarded else (),
            self.public_ip if running else None,
        )

    async def stream_stat(self, url: str) -> StreamStat | None:
        """Alive with fixed figures; None for `ended_sessions`; no answer from `silent` ports."""
        self.stat_calls.append(url)
        if self.stat_gate is not None:
            await self.stat_gate.wait()
        address = urlsplit(url)
        if address.port in self.silent:
            raise ProbeFailure(f"stat {url}: connection refused")
        if address.path.rsplit("/", 1)[-1] in self.ended_sessions:
            return None
        return StreamStat(
            "dl", peers=7, speed_down=120, speed_up=15, downloaded=4096, uploaded=512, livepos=None
        )

    async def stop_stream(self, url: str) -> bool:
        """Engines confirm unless their port is `silent`; the stopped session is then gone."""
        self.stop_calls.append(url)
        address = urlsplit(url)
        if address.port in self.silent:
            return False
        self.ended_sessions.add(address.path.rsplit("/", 1)[-1])
        return True

    async def close(self) -> None:
        return None


StackFactory = Callable[..., StackSettings]
ConfigFactory = Callable[..., Config]


@pytest.fixture
def settings_for() -> StackFactory:
    return stack_settings


@pytest.fixture
def config_for(tmp_path: Path) -> ConfigFactory:
    def build(stack: StackSettings, api_key: str | None = API_KEY, **env: object) -> Config:
        return make_config(stack, tmp_path, api_key, **env)

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


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def add_gluetuns(runtime: FakeRuntime, stack: StackSettings) -> None:
    """Put the stack's gluetun containers in place, labelled as compose labels them."""
    names = {info.name for info in runtime.containers.values()}
    for index, vpn in enumerate(stack.vpns):
        if f"{stack.stack}-{vpn.service}-1" in names:
            continue
        labels = {"com.docker.compose.project": stack.stack, "com.docker.compose.service": vpn.service}
        runtime.add(f"{stack.stack}-{vpn.service}-1", labels, ip=f"172.30.0.{index + 2}", started_at="t1")


@pytest.fixture
def gluetuns_for() -> Callable[[FakeRuntime, StackSettings], None]:
    return add_gluetuns


ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it over ASGI, all on the test's own event loop (Litestar's
    test client runs the app in a portal thread, where a manual clock could not be driven). Fails when
    the app leaves a task running after its shutdown."""
    before = asyncio.all_tasks()
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    events = {name: asyncio.Event() for name in ("startup", "shutdown")}
    failures: list[str] = []

    async def send(message: Any) -> None:
        kind = message["type"].removeprefix("lifespan.")
        if kind.endswith(".failed"):
            failures.append(message.get("message", kind))
        events[kind.split(".")[0]].set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, send))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    await events["startup"].wait()
    assert not failures, failures
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://supervisor.test") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await inbox.put({"type": "lifespan.shutdown"})
    await events["shutdown"].wait()
    await task
    await asyncio.sleep(0)
    leftover = [other for other in asyncio.all_tasks() - before if not other.done()]
    assert not leftover, f"tasks left running after shutdown: {leftover}"


@pytest.fixture
def open_client(
    config_for: ConfigFactory, runtime: FakeRuntime, clock: ManualClock, probes: FakeProbes
) -> ClientFactory:
    """`async with open_client("single", max_replicas=3) as client:` runs the app (lifespan included)
    on the fake runtime, without background loops; the test drives ticks itself."""

    def build(
        mode: str = "standalone",
        *,
        env: dict[str, object] | None = None,
        api_key: str | None = API_KEY,
        loops: bool = False,
        **stack: Any,
    ) -> Any:
        settings = stack_settings(mode, **stack)
        add_gluetuns(runtime, settings)
        config = config_for(settings, api_key, **(env or {}))
        app = create_app(config, runtime, clock=clock, probes=probes, loops=loops)
        return serve(app)

    return build
