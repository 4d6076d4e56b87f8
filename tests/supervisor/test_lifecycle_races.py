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
        listing = asyncio.create_task(supervisor.reconciler.tick())
        await settle()  # Docker has answered, with no engine in it yet
        first = (await client.post("/provision/acestream", headers=auth)).json()
        gate.set()
        await listing
        assert [engine["container_id"] for engine in (await client.get("/engines")).json()] == [
            first["container_id"]
        ]
        second = (await client.post("/provision/acestream", headers=auth)).json()
        assert second["host_http_port"] != first["host_http_port"]


async def test_an_engine_that_exited_keeps_its_port_for_the_restart_window_then_is_replaced(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        first = (await client.post("/provision/acestream", headers=auth)).json()
        await supervisor.readiness.tick()
        runtime.kill(first["container_id"])  # exited; its restart policy may start it again
        await supervisor.reconciler.tick()
        engines = (await client.get("/engines", params={"all": "true"})).json()
        assert [(engine["container_id"], engine["withdrawn"]) for engine in engines] == [
            (first["container_id"], "container_stopped")
        ]
        assert (await client.get("/engines")).json() == []  # withdrawn from proxies at once
        second = (await client.post("/provision/acestream", headers=auth)).json()
        assert second["host_http_port"] != first["host_http_port"]  # its port is held meanwhile
        clock.advance(supervisor.config.stack.timings.engine_restart_window_s)
        await supervisor.reconciler.tick()
        assert first["container_id"] not in runtime.containers  # removed, not merely forgotten
        third = (await client.post("/provision/acestream", json={"labels": {"n": "3"}}, headers=auth)).json()
        assert third["host_http_port"] == first["host_http_port"]


async def test_start_up_holds_the_port_of_an_engine_that_is_not_running(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        first = (await client.post("/provision/acestream", headers=auth)).json()
    runtime.kill(first["container_id"])  # exited (or restarting) while the supervisor was down
    async with open_client("standalone") as client:
        assert first["container_id"] in runtime.containers  # start-up deleted no engine
        engines = (await client.get("/engines", params={"all": "true"})).json()
        assert [(engine["container_id"], engine["port"], engine["health_status"]) for engine in engines] == [
            (first["container_id"], first["host_http_port"], "unhealthy")
        ]
        assert (await client.get("/engines")).json() == []
        second = (await client.post("/provision/acestream", headers=auth)).json()
        assert second["host_http_port"] != first["host_http_port"]


def hold_removals(runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """From now on `runtime.stop_and_remove` waits for the returned event before removing."""
    gate = asyncio.Event()
    remove_now = runtime.stop_and_remove

    async def held(container_id: str) -> None:
        await gate.wait()
        await remove_now(container_id)

    monkeypatch.setattr(runtime, "stop_and_remove", held)
    return gate


def stream_on(port: int, key: str) -> dict[str, Any]:
    return {
        "engine": {"host": "localhost", "port": port},
        "stream": {"key_type": "content_id", "key": key},
        "session": {"playback_session_id": "s", "is_live": True},
    }


async def test_no_stream_starts_on_an_engine_being_removed(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client("standalone") as client:
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        gate = hold_removals(runtime, monkeypatch)
        deleting = asyncio.create_task(client.delete(f"/engines/{engine['container_id']}", headers=auth))
        await settle()  # the Docker call is in flight
        late = await client.post(
            "/events/stream_started", json=stream_on(engine["host_http_port"], "late"), headers=auth
        )
        assert late.status_code == 404
        gate.set()
        assert (await deleting).status_code == 200
        assert (await client.get("/streams", params={"status": "started"})).json() == []


async def test_a_failed_removal_puts_the_engine_back(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client("standalone", max_replicas=1) as client:
        supervisor = client.app.state.supervisor
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        gate = hold_removals(runtime, monkeypatch)
        runtime.fail_next_removes = 1
        deleting = asyncio.create_task(client.delete(f"/engines/{engine['container_id']}", headers=auth))
        await settle()
        refused = await client.post("/provision/acestream", headers=auth)  # it still runs: still counted
        assert refused.json()["detail"]["code"] == "max_capacity"
        gate.set()
        assert (await deleting).status_code == 503
        assert [listed["container_id"] for listed in (await client.get("/engines")).json()] == [
            engine["container_id"]
        ]
        assert supervisor.state.pool.used(None) == 1


async def test_idle_engines_leave_the_list_as_their_removal_starts_and_a_stream_cannot_land_there(
    open_client: Any,
    runtime: FakeRuntime,
    clock: Any,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        made = [(await client.post("/provision/acestream", headers=auth)).json() for _ in range(2)]
        clock.advance(supervisor.config.stack.timings.engine_grace_period_s)
        gate = hold_removals(runtime, monkeypatch)
        scaling = asyncio.create_task(supervisor.reconciler.tick())  # desired is 0: both are idle
        await settle()  # both removals are in flight
        assert (await client.get("/engines")).json() == []
        late = await client.post(
            "/events/stream_started", json=stream_on(made[0]["host_http_port"], "k"), headers=auth
        )
        assert late.status_code == 404  # no stream is recorded on an engine Docker is removing
        assert supervisor.state.pool.used(None) == 2  # their ports stay held until Docker is done
        gate.set()
        await scaling
        assert supervisor.state.pool.used(None) == 0
        assert not any(engine["container_id"] in runtime.containers for engine in made)


@pytest.mark.parametrize("remover", ["provisioner", "readiness"])
async def test_every_removal_ends_the_engines_streams(
    remover: str, open_client: Any, probes: Any, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        port = engine["host_http_port"]
        await client.post("/events/stream_started", json=stream_on(port, "k"), headers=auth)
        if remover == "provisioner":  # as the autoscale, health and VPN loops remove
            await supervisor.provisioner.remove(engine["container_id"], "idle")
        else:  # a stream started on it before it ever answered
            probes.silent.add(port)
            clock.advance(supervisor.config.stack.timings.startup_timeout_s)
            await supervisor.readiness.tick()
        assert (await client.get("/engines")).json() == []
        ended = (await client.get("/streams")).json()
        assert [(stream["id"], stream["status"]) for stream in ended] == [("k|s", "ended")]
