"""Races between the loops, the API and Docker around an engine's life: no port handed out twice, no
stream left started on an engine that is gone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervisor.runtime.base import ContainerInfo
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


async def settle() -> None:
    """Let every ready task run until it waits on something the test controls."""
    for _ in range(50):
        await asyncio.sleep(0)


def hold_lists(runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """From now on `runtime.list` reads Docker at once but answers only when the returned event is set."""
    gate = asyncio.Event()
    answer_now = runtime.list

    async def held(labels: dict[str, str]) -> list[ContainerInfo]:
        answer = await answer_now(labels)
        await gate.wait()
        return answer

    monkeypatch.setattr(runtime, "list", held)
    return gate


async def test_an_engine_provisioned_while_autoscale_lists_docker_is_kept_with_its_port(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        gate = hold_lists(runtime, monkeypatch)
        listing = asyncio.create_task(supervisor.autoscale.forget_vanished())
        await settle()  # Docker has answered, with no engine in it yet
        first = (await client.post("/provision/acestream", headers=auth)).json()
        gate.set()
        await listing
        assert [engine["container_id"] for engine in (await client.get("/engines")).json()] == [
            first["container_id"]
        ]
        second = (await client.post("/provision/acestream", headers=auth)).json()
        assert second["host_http_port"] != first["host_http_port"]


async def test_an_engine_that_exited_keeps_its_port_until_the_health_loop_replaces_it(
    open_client: Any, runtime: FakeRuntime, probes: Any, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        first = (await client.post("/provision/acestream", headers=auth)).json()
        await supervisor.readiness.tick()
        runtime.kill(first["container_id"])  # exited; its restart policy may start it again
        probes.silent.add(first["host_http_port"])
        await supervisor.autoscale.forget_vanished()
        engines = (await client.get("/engines")).json()
        assert [(engine["container_id"], engine["health_status"]) for engine in engines] == [
            (first["container_id"], "unhealthy")
        ]
        second = (await client.post("/provision/acestream", headers=auth)).json()
        assert second["host_http_port"] != first["host_http_port"]
        clock.advance(supervisor.config.stack.timings.health_unhealthy_grace_period_s)
        await supervisor.health.tick()
        assert first["container_id"] not in runtime.containers  # removed, not merely forgotten
        third = (await client.post("/provision/acestream", headers=auth)).json()
        assert third["host_http_port"] == first["host_http_port"]


async def test_start_up_holds_the_port_of_an_engine_that_is_not_running(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        first = (await client.post("/provision/acestream", headers=auth)).json()
    runtime.kill(first["container_id"])  # exited (or restarting) while the supervisor was down
    async with open_client("standalone") as client:
        assert first["container_id"] in runtime.containers  # start-up deleted no engine
        engines = (await client.get("/engines")).json()
        assert [(engine["container_id"], engine["port"], engine["health_status"]) for engine in engines] == [
            (first["container_id"], first["host_http_port"], "unhealthy")
        ]
        second = (await client.post("/provision/acestream", headers=auth)).json()
        assert second["host_http_port"] != first["host_http_port"]
