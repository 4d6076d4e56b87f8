"""pytest fixtures of the real-Docker bench (loaded by tests/conftest.py).

- `docker_host` (session): DOCKER_HOST when set explicitly; else the private bench daemon, started by
  scripts/test-dockerd when this process is root (and stopped at the end if this session started it).
- `docker_client` (session): a docker SDK client of that daemon.
- `bench_images` (session): every bench image built or reused by content hash (bench.images).
- `compose_project` (function): a factory of ComposeProject with a unique project name; at the end of the
  test every project is brought down with -v, and every container, network and volume labelled with the
  project is removed; the test fails if any was left behind.
- `bench_labels` (function): labels to put on containers/networks a test creates outside compose, so the
  same clean-up finds them.

Tests marked `docker` skip with the reason when there is no daemon; under CI=true that skip fails.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from bench import host_ports, images
from bench.compose import ComposeProject, compose_binary

ROOT = images.ROOT
TEST_DOCKERD = ROOT / "scripts" / "test-dockerd"
PROJECT_LABEL = "com.docker.compose.project"
BENCH_LABEL = "ace.bench.project"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_timings: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("docker") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true: a test marked docker may not skip ({reason})"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _timings:
        shown = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in _timings.items())
        terminalreporter.write_line(f"docker bench: {shown}")


def _answers(host: str) -> bool:
    """GET /_ping, without the SDK (whose client would negotiate a version and leak its session)."""
    if host.startswith("unix://"):
        connection: http.client.HTTPConnection = _UnixConnection(host.removeprefix("unix://"))
    elif host.startswith(("tcp://", "http://")):
        connection = http.client.HTTPConnection(host.split("://", 1)[1], timeout=10)
    else:
        return True  # ssh:// and the like: let the docker client say what is wrong
    try:
        connection.request("GET", "/_ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    explicit = os.environ.get("DOCKER_HOST")
    if explicit:
        if not _answers(explicit):
            pytest.skip(f"DOCKER_HOST={explicit} does not answer")
        yield explicit
        return
    bench_host = f"unix://{images.BENCH_DIR}/daemon/docker.sock"
    if _answers(bench_host):
        yield bench_host
        return
    if os.geteuid() != 0:
        pytest.skip("no Docker daemon: run as root (the bench starts its own) or set DOCKER_HOST")
    started = time.monotonic()
    result = subprocess.run([str(TEST_DOCKERD), "start"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"scripts/test-dockerd start failed: {result.stderr.strip()[-2000:]}")
    _timings["daemon start"] = time.monotonic() - started
    try:
        yield result.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(TEST_DOCKERD), "stop"], capture_output=True, check=False)


@pytest.fixture(autouse=True)
def _docker_marker_needs_a_daemon(request: pytest.FixtureRequest) -> None:
    """A test marked docker gets the daemon (or its skip, a failure under CI) even if it asks no fixture."""
    if request.node.get_closest_marker("docker"):
        request.getfixturevalue("docker_host")


@pytest.fixture(scope="session")
def docker_client(docker_host: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=docker_host, timeout=600)
    yield client
    client.close()


@pytest.fixture(scope="session")
def bench_images(docker_client: docker.DockerClient) -> dict[str, float]:
    compose_binary()
    started = time.monotonic()
    timings = images.ensure_all(docker_client)
    _timings.update({f"image {step}": seconds for step, seconds in timings.items()})
    _timings["images total"] = time.monotonic() - started
    return timings


def _leftovers(client: docker.DockerClient, name: str) -> list[str]:
    found: list[str] = []
    for label in (PROJECT_LABEL, BENCH_LABEL):
        selector = {"label": f"{label}={name}"}
        found += [f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
        found += [f"network {n.name}" for n in client.networks.list(filters=selector)]
        found += [f"volume {v.name}" for v in client.volumes.list(filters=selector)]
    return found


def _remove_labelled(client: docker.DockerClient, name: str) -> None:
    """Containers first (they hold networks and volumes), then networks and volumes."""
    selectors = [{"label": f"{label}={name}"} for label in (BENCH_LABEL, PROJECT_LABEL)]
    for selector in selectors:
        for container in client.containers.list(all=True, filters=selector):
            container.remove(force=True, v=True)
    for selector in selectors:
        for network in client.networks.list(filters=selector):
            network.remove()
        for volume in client.volumes.list(filters=selector):
            volume.remove(force=True)


@pytest.fixture
def bench_name() -> str:
    return f"acetest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bench_labels(bench_name: str) -> dict[str, str]:
    return {BENCH_LABEL: bench_name}


@pytest.fixture
def compose_project(
    docker_host: str, docker_client: docker.DockerClient, bench_images: dict[str, float], bench_name: str
) -> Iterator[Callable[..., ComposeProject]]:
    projects: list[ComposeProject] = []

    def make(directory: Path, files: list[Path], env_file: Path | None = None) -> ComposeProject:
        project = ComposeProject(f"{bench_name}-{len(projects)}", docker_host, directory, files, env_file)
        projects.append(project)
        return project

    yield make
    _remove_labelled(docker_client, bench_name)
    left: list[str] = []
    for project in projects:
        project.run("down", "-v", "--remove-orphans", "--timeout", "3", check=False)
        _remove_labelled(docker_client, project.name)
        left += _leftovers(docker_client, project.name)
    left += _leftovers(docker_client, bench_name)
    assert not left, f"left behind after the test: {left}"


@pytest.fixture
def bench_cleanup(
    docker_client: docker.DockerClient, bench_images: dict[str, float], bench_name: str
) -> Iterator[str]:
    """For tests that create containers and networks themselves, labelled with `bench_labels`."""
    yield bench_name
    _remove_labelled(docker_client, bench_name)
    left = _leftovers(docker_client, bench_name)
    assert not left, f"left behind after the test: {left}"


@pytest.fixture
def fixed_host_ports() -> Iterator[Callable[[dict[str, object]], None]]:
    """Held for the whole test (ask for it before compose_project, so it is released after `down`):
    a machine-wide lock, and a function that waits until a compose file's published ports are free."""
    with host_ports.machine_lock():
        yield lambda compose: host_ports.wait_until_free(host_ports.published_host_ports(compose))
