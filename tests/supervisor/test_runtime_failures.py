"""A Docker daemon that does not answer is a RuntimeFailure (503, counted by the breaker), never a 500."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import pytest
from requests.exceptions import ReadTimeout

from supervisor.runtime.base import ContainerSpec, RuntimeFailure
from supervisor.runtime.docker_runtime import DockerRuntime

pytestmark = pytest.mark.anyio


def runtime_on(api: Any) -> DockerRuntime:
    runtime = object.__new__(DockerRuntime)  # skip the constructor's version query, plug in the API
    runtime._api = api
    runtime._pool = ThreadPoolExecutor(max_workers=2)
    return runtime


@pytest.fixture
def no_daemon(tmp_path: Path) -> Iterator[DockerRuntime]:
    """A real docker-py client on a socket nobody listens on: every call raises a bare requests error."""
    api = docker.APIClient(base_url=f"unix://{tmp_path / 'docker.sock'}", version="1.44")
    runtime = runtime_on(api)
    yield runtime
    runtime._pool.shutdown()
    api.close()
    gc.collect()  # docker-py leaves the sockets of failed connections to the collector: close them here


@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
async def test_every_action_on_an_unreachable_daemon_is_a_runtime_failure(no_daemon: DockerRuntime) -> None:
    with pytest.raises(RuntimeFailure, match="cannot create e from img"):
        await no_daemon.create_and_start(ContainerSpec("e", "img", {}, {}))
    with pytest.raises(RuntimeFailure, match="cannot remove container 0123456789ab"):
        await no_daemon.stop_and_remove("0123456789abcdef")
    with pytest.raises(RuntimeFailure, match="cannot inspect container 0123456789ab"):
        await no_daemon.inspect("0123456789abcdef")
    with pytest.raises(RuntimeFailure, match="cannot list containers"):
        await no_daemon.list({"x": "1"})


class StartTimesOut:
    """Creates, then times out on start (the container may well be running); records removals."""

    def __init__(self) -> None:
        self.removed: list[str] = []

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def create_container(self, image: str, **kwargs: Any) -> dict[str, str]:
        return {"Id": "f" * 64}

    def start(self, container_id: str) -> None:
        raise ReadTimeout("UnixHTTPConnectionPool: Read timed out. (read timeout=60)")

    def remove_container(self, container_id: str, force: bool) -> None:
        assert force
        self.removed.append(container_id)


async def test_a_start_that_times_out_removes_the_container_before_failing() -> None:
    api = StartTimesOut()
    runtime = runtime_on(api)
    try:
        with pytest.raises(RuntimeFailure, match=r"cannot start e: .*Read timed out"):
            await runtime.create_and_start(ContainerSpec("e", "img", {}, {}))
    finally:
        runtime._pool.shutdown()
    assert api.removed == ["f" * 64]  # so the caller is right to free the engine's port
