"""The supervisor on the real-Docker bench: a stack's settings from a test profile, the gluetun stand-ins a
VPN stack needs, and `ace-supervisor serve` as a host subprocess (so a test can SIGKILL it).

Everything a test makes here carries the bench labels, and the supervisor is told its compose project is
the bench name, so the engines it creates carry `com.docker.compose.project=<bench name>`: the bench
fixtures' clean-up finds them all (tests assert that every engine carries that label).
Host ports: engines from 27000 up, supervisors in 18000-18999, all bound to 127.0.0.1, away from the
shipped profiles' 8000 and 19000-19019, and below Linux's ephemeral range (32768-60999), so that no
outgoing connection can hold one of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import docker
import docker.errors
import httpx
from bench.images import GLUETUN_IMAGE
from ruamel.yaml import YAML

from generator.plan import build_plan
from generator.profile import load_profile
from supervisor.core import labels as label
from supervisor.stack_settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR_BIN = Path(sys.executable).with_name("ace-supervisor")
API_KEY = "bench-" + secrets.token_hex(12)
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CLIENT_TIMEOUT_S = 3.0  # acexy's client gives up after 3 s: the provisioning contract


def strict_models() -> ModuleType:
    """The strict acexy client models of tests/supervisor/test_acexy_contract.py (that directory is not
    an importable package), loaded by path."""
    path = ROOT / "tests" / "supervisor" / "test_acexy_contract.py"
    spec = importlib.util.spec_from_file_location("acexy_contract_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    return module


def stack_settings(
    tmp_path: Path,
    stack: str,
    mode: str,
    first_port: int,
    *,
    ports: int = 10,
    max_replicas: int = 10,
    startup_timeout_s: float = 20,
    replicas: dict[str, int | str] | None = None,
    timings: dict[str, float] | None = None,
) -> StackSettings:
    """A test profile (small ranges, no autoscaled minimum, 127.0.0.1) through the generator's plan."""
    vpns = {"standalone": [], "single": ["gluetun"], "redundant": ["gluetun", "gluetun-2"]}[mode]
    profile = {
        "stack": stack,
        "mode": mode,
        # The stand-in engine takes its faults from STANDIN_FAULT, which tests set per provision.
        "engine": {"variant": "krinkuto11", "allowed_env": ["STANDIN_FAULT"], "image_pull": "never"},
        "replicas": {"min": 0, "min_free": 0, "max": max_replicas, **(replicas or {})},
        "timings": {"startup_timeout_s": startup_timeout_s, "vpn_check_interval_s": 1, **(timings or {})},
        "ports": {
            "engine_http": f"{first_port}-{first_port + ports - 1}",
            "https_offset": 200,
            "p2p_offset": 400,
            "host_ip": "127.0.0.1",
        },
        "vpns": [{"name": name, "port_forwarding": index == 0} for index, name in enumerate(vpns)],
    }
    path = tmp_path / f"{stack}.yaml"
    with path.open("w") as file:
        YAML(typ="safe").dump(profile, file)
    return build_plan(load_profile(path), mode, str(path)).settings


def make_network(client: docker.DockerClient, name: str, labels: dict[str, str]) -> str:
    """A user bridge network (the bench daemon has no default bridge) publishing on 127.0.0.1 only."""
    options = {"com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"}
    client.networks.create(name, driver="bridge", labels=labels, options=options)
    return name


def start_gluetuns(
    client: docker.DockerClient,
    settings: StackSettings,
    project: str,
    network: str,
    labels: dict[str, str],
) -> dict[str, str]:
    """One gluetun stand-in per VPN, labelled as compose labels a service, publishing its engine range.
    Returns the environment the supervisor needs (each control server's API key)."""
    environment: dict[str, str] = {}
    for vpn in settings.vpns:
        key = secrets.token_hex(8)
        environment[vpn.control_api_key_env] = key
        http = vpn.engine_ports.http
        container = client.containers.run(
            GLUETUN_IMAGE,
            name=f"{project}-{vpn.service}-1",
            detach=True,
            network=network,
            labels={**labels, label.COMPOSE_PROJECT: project, label.COMPOSE_SERVICE: vpn.service},
            environment={
                "HTTP_CONTROL_SERVER_AUTH_DEFAULT_ROLE": json.dumps({"auth": "apikey", "apikey": key}),
                "VPN_PORT_FORWARDING": "on" if vpn.port_forwarding else "off",
            },
            ports={f"{port}/tcp": ("127.0.0.1", port) for port in http.ports()},
        )
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        wait_until(
            lambda address=address, key=key, port=vpn.control_port: _answers(
                f"http://{address}:{port}/v1/vpn/status", {"X-API-Key": key}
            ),
            20,
            f"gluetun stand-in {vpn.service} control server",
        )
    return environment


def _answers(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def engine_answers(port: int) -> bool:
    return _answers(f"http://127.0.0.1:{port}/webui/api/service?method=get_version")


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


def free_supervisor_port() -> int:
    for port in range(18000 + os.getpid() % 500, 19000):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 18000-18999 for the supervisor")


def port_is_free(port: int) -> bool:
    """Whether a new listener (Docker's, which sets SO_REUSEADDR) could bind 127.0.0.1:port now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class SupervisorProcess:
    """`ace-supervisor serve` on the host, against the bench daemon; restartable on the same database."""

    settings: StackSettings
    workdir: Path
    docker_host: str
    project: str
    network: str
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_supervisor_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.workdir / "supervisor.db"

    def environment(self) -> dict[str, str]:
        settings_file = self.workdir / "settings.json"
        settings_file.write_text(self.settings.model_dump_json())
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DOCKER_HOST": self.docker_host,
            "ACE_SUPERVISOR_SETTINGS": str(settings_file),
            "ACE_SUPERVISOR_DB_PATH": str(self.db_path),
            "ACE_SUPERVISOR_PROJECT": self.project,
            "ACE_SUPERVISOR_NETWORK": self.network,
            "ACE_SUPERVISOR_PROBE_HOST": "127.0.0.1",
            "ACE_SUPERVISOR_DOCKER_HOST": self.docker_host,
            "ACE_SUPERVISOR_PORT": str(self.port),
            "ACE_SUPERVISOR_READINESS_INTERVAL_S": "0.3",
            self.settings.api_key_env: API_KEY,
            **self.extra_env,
        }

    def start(self, timeout: float = 30) -> None:
        self.starts += 1
        log = (self.workdir / f"supervisor-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [str(SUPERVISOR_BIN), "serve"], env=self.environment(), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"ace-supervisor exited {self.process.returncode}:\n{self.log()}")
            return _answers(f"{self.url}/health")

        wait_until(up, timeout, "ace-supervisor /health")

    def log(self) -> str:
        return (self.workdir / f"supervisor-{self.starts}.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, timeout: float = CLIENT_TIMEOUT_S) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def store_rows(self) -> dict[str, tuple[str, str | None]]:
        """container_id -> (state, gone_reason), read from the supervisor's SQLite file."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as connection:
            rows = connection.execute("SELECT container_id, state, gone_reason FROM engines").fetchall()
        connection.close()
        return {row[0]: (row[1], row[2]) for row in rows}


@contextmanager
def running_supervisor(supervisor: SupervisorProcess) -> Iterator[SupervisorProcess]:
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop()


def engine_containers(client: docker.DockerClient, settings: StackSettings) -> list[Any]:
    """Every container of this stack's engines on the daemon, stopped or not. One still being created
    shows in the daemon's list a moment before it can be inspected: such a one is left out."""
    found = []
    for row in client.api.containers(all=True, filters=engine_filter(settings)):
        try:
            found.append(client.containers.get(row["Id"]))
        except docker.errors.NotFound:
            continue
    return found


def count_engine_containers(client: docker.DockerClient, settings: StackSettings) -> int:
    return len(client.api.containers(all=True, filters=engine_filter(settings)))


def engine_filter(settings: StackSettings) -> dict[str, list[str]]:
    return {"label": [f"{key}={value}" for key, value in label.engine_selector(settings.stack).items()]}


def published_host_ports(container: Any) -> list[int]:
    """The host ports a container publishes (an engine in a VPN namespace publishes none itself)."""
    bindings = container.attrs["HostConfig"].get("PortBindings") or {}
    return [int(bind["HostPort"]) for binds in bindings.values() for bind in binds or [] if bind["HostPort"]]


def report_fault(fault: str, withdrawn_s: float | None, converged_s: float, intervals: str) -> None:
    """One line of `just bench-faults`: the fault, the seconds until /engines no longer offered a bad
    engine (None: none was ever offered) and until the desired ready engines were back, and the intervals
    that bound them."""
    withdrawn = "-" if withdrawn_s is None else f"{withdrawn_s:.2f}"
    print(f"\nFAULT|{fault}|{withdrawn}|{converged_s:.2f}|{intervals}")
