"""The Docker adapter's translation to and from the SDK's low-level API, without a daemon.

The real daemon proves the calls work (the bench's real-Docker tests); this pins what is asked of it:
two calls per engine, the right network mode and port bindings, and nothing left behind on failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from docker.errors import APIError, ImageNotFound

from supervisor.runtime.base import ContainerSpec, ImageMissing, PublishedPort, RuntimeFailure
from supervisor.runtime.docker_runtime import DockerRuntime

pytestmark = pytest.mark.anyio


class RecordingApi:
    """The subset of docker.APIClient the adapter uses, recording every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.missing_image = False
        self.fail_start = False

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        return {"host_config": kwargs}

    def create_container(self, image: str, **kwargs: Any) -> dict[str, str]:
        if self.missing_image:
            self.missing_image = False
            raise ImageNotFound("no such image")
        self.calls.append(("create", {"image": image, **kwargs}))
        return {"Id": "c0ffee" * 10 + "abcd"}

    def pull(self, image: str) -> None:
        self.calls.append(("pull", image))

    def start(self, container_id: str) -> None:
        if self.fail_start:
            raise APIError("port is already allocated")
        self.calls.append(("start", container_id))

    def remove_container(self, container_id: str, force: bool) -> None:
        self.calls.append(("remove", container_id))

    def containers(
        self, all: bool, filters: dict[str, list[str]], size: bool = False
    ) -> list[dict[str, Any]]:
        self.calls.append(("list sized" if size else "list", filters))
        if size:  # Docker adds SizeRw (and SizeRootFs) to each row; a container it could not size has none
            return [{"Id": "a" * 64, "SizeRw": 5 << 20, "SizeRootFs": 9 << 20}, {"Id": "b" * 64}]
        networks = {"stack_default": {"IPAddress": "10.0.0.7"}}
        return [
            {
                "Id": "a" * 64,
                "Names": ["/e1"],
                "State": "running",
                "Labels": {"x": "1"},
                "NetworkSettings": {"Networks": networks},
            },
            {"Id": "b" * 64, "Names": ["/e2"], "State": "created", "Labels": {"x": "1"}},
        ]


@pytest.fixture
def adapter() -> Iterator[tuple[DockerRuntime, RecordingApi]]:
    runtime = object.__new__(DockerRuntime)  # no daemon: skip connecting, plug in the recorder
    api = RecordingApi()
    runtime._api = api  # type: ignore[assignment]
    runtime._pool = ThreadPoolExecutor(max_workers=2)
    yield runtime, api
    runtime._pool.shutdown()


async def test_a_standalone_engine_joins_the_network_and_publishes_its_port(adapter: Any) -> None:
    runtime, api = adapter
    spec = ContainerSpec(
        "e",
        "img",
        {"A": "1"},
        {"l": "v"},
        network="stack_default",
        published=(PublishedPort(6878, 19000, "127.0.0.1"),),
    )
    info = await runtime.create_and_start(spec)
    assert [call[0] for call in api.calls] == ["create", "start"]  # two daemon calls, no inspect
    create = api.calls[0][1]
    assert create["host_config"]["host_config"]["port_bindings"] == {6878: ("127.0.0.1", 19000)}
    assert create["host_config"]["host_config"]["network_mode"] == "stack_default"
    assert create["networking_config"] == {"EndpointsConfig": {"stack_default": {}}}
    assert create["ports"] == [6878] and create["labels"] == {"l": "v"}
    assert info.running and info.name == "e"


async def test_a_vpn_engine_joins_the_gluetun_namespace_without_ports(adapter: Any) -> None:
    runtime, api = adapter
    await runtime.create_and_start(ContainerSpec("e", "img", {}, {}, network_mode="container:g1"))
    create = api.calls[0][1]
    assert create["host_config"]["host_config"]["network_mode"] == "container:g1"
    assert create["host_config"]["host_config"]["port_bindings"] is None
    assert create["networking_config"] is None and create["ports"] is None


async def test_a_missing_image_is_never_pulled_inside_a_provision_and_a_failed_start_leaves_nothing(
    adapter: Any,
) -> None:
    runtime, api = adapter
    api.missing_image = True
    with pytest.raises(ImageMissing, match="image img is not on the daemon"):
        await runtime.create_and_start(ContainerSpec("e", "img", {}, {}))
    assert "pull" not in [call[0] for call in api.calls]  # a pull can outlast any proxy's timeout
    api.missing_image = False
    api.calls.clear()
    api.fail_start = True
    with pytest.raises(RuntimeFailure, match=r"cannot start e: .*already allocated"):
        await runtime.create_and_start(ContainerSpec("e", "img", {}, {}))
    assert [call[0] for call in api.calls] == ["create", "remove"]


async def test_listing_reads_state_names_and_addresses(adapter: Any) -> None:
    runtime, api = adapter
    running, created = await runtime.list({"x": "1"})
    assert api.calls == [("list", {"label": ["x=1"]})]
    assert (running.name, running.running, running.ip_address, running.never_started) == (
        "e1",
        True,
        "10.0.0.7",
        False,
    )
    assert (created.running, created.never_started) == (False, True)


async def test_disk_use_is_one_sized_listing_of_the_writable_layers_and_a_tmpfs_is_a_mount(
    adapter: Any,
) -> None:
    runtime, api = adapter
    assert await runtime.disk_usage({"x": "1"}) == {"a" * 64: 5 << 20, "b" * 64: 0}
    assert api.calls == [("list sized", {"label": ["x=1"]})]
    await runtime.create_and_start(ContainerSpec("e", "img", {}, {}, tmpfs={"/c": "size=64,mode=1777"}))
    assert api.calls[1][1]["host_config"]["host_config"]["tmpfs"] == {"/c": "size=64,mode=1777"}
    await runtime.create_and_start(ContainerSpec("f", "img", {}, {}))
    assert api.calls[3][1]["host_config"]["host_config"]["tmpfs"] is None
