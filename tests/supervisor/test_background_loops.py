"""The background loops on a manual clock: no sleeps, time moves only when the test says so."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervisor.core import labels as label
from supervisor.core.clock import ManualClock
from supervisor.core.reconcile import Reason
from supervisor.loops.ticker import run_every
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


async def settle() -> None:
    """Let every ready task run until it waits on the clock again."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_ticker_ticks_once_per_interval_and_survives_a_failing_tick(clock: ManualClock) -> None:
    ticks: list[float] = []

    async def tick() -> None:
        ticks.append(clock.monotonic())
        if len(ticks) == 1:
            raise RuntimeError("first tick fails")

    task = asyncio.create_task(run_every("test", 5, clock, tick))
    await settle()
    for _ in range(3):
        clock.advance(5)
        await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ticks == [1005.0, 1010.0, 1015.0]


async def test_loops_bring_the_stack_to_min_and_mark_engines_ready(
    open_client: Any, clock: ManualClock, runtime: FakeRuntime
) -> None:
    async with open_client("single", env={}, min=2, min_free=1, loops=True) as client:
        await settle()
        engines = (await client.get("/engines")).json()
        assert len(engines) == 2 and {engine["health_status"] for engine in engines} == {"unknown"}
        clock.advance(1)  # the readiness interval
        await settle()
        engines = (await client.get("/engines")).json()
        assert {engine["health_status"] for engine in engines} == {"healthy"}
    assert len([info for info in runtime.containers.values() if info.labels.get(label.ROLE)]) == 2


async def test_a_gluetun_restart_replaces_the_engines_that_lost_their_network(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("redundant") as client:
        supervisor = client.app.state.supervisor
        made = [(await client.post("/provision/acestream", headers=auth)).json() for _ in range(4)]
        on_first = [engine for engine in made if engine["host_http_port"] < 40010]
        event = {
            "engine": {"host": "localhost", "port": on_first[0]["host_http_port"]},
            "stream": {"key_type": "content_id", "key": "k"},
            "session": {"playback_session_id": "s", "is_live": 1},
        }
        await client.post("/events/stream_started", json=event, headers=auth)
        gluetun = next(info for info in runtime.containers.values() if info.name.endswith("-gluetun-1"))
        runtime.restart_behind(gluetun.id)
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        left = {engine["container_id"] for engine in (await client.get("/engines")).json()}
        assert left == {engine["container_id"] for engine in made} - {
            engine["container_id"] for engine in on_first
        }
        ended = (await client.get("/streams", params={"status": "ended"})).json()
        assert [stream["id"] for stream in ended] == ["k|s"]
        again = (await client.post("/provision/acestream", headers=auth)).json()
        assert again["host_http_port"] == 40000  # its freed port, in the new namespace
        assert runtime.specs[again["container_id"]].network_mode == f"container:{gluetun.id}"


async def test_an_unreachable_control_server_blocks_provisioning_until_it_answers(
    open_client: Any, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        probes.vpn_status = None
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        refused = await client.post("/provision/acestream", headers=auth)
        assert refused.json()["detail"]["code"] == "vpn_disconnected"
        assert refused.json()["detail"]["should_wait"] is True
        probes.vpn_status = "running"
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
        status = (await client.get("/orchestrator/status")).json()
        assert status["vpn"]["connected"] is True and status["vpn"]["forwarded_port"] == 5914


async def test_an_engine_whose_gluetun_was_replaced_while_down_is_replaced_on_the_first_pass(
    open_client: Any, runtime: FakeRuntime
) -> None:
    """It has no network: never offered, and the first VPN pass replaces it (issue 8: level-triggered)."""
    labels = {
        **label.engine_selector("acestream-single"),
        label.VPN: "gluetun",
        label.HOST_HTTP_PORT: "40003",
        label.VPN_CONTAINER_ID: "an-old-gluetun",
    }
    engine_id = runtime.add("acestream-single-engine-40003-abcdef", labels)
    async with open_client("single") as client:
        assert (await client.get("/engines")).json() == []  # never offered to a proxy
        assert engine_id not in runtime.containers  # replaced: autoscale makes fresh ones in the namespace
        removed = (await client.get("/events", params={"type": "engine_removed"})).json()
        assert [(e["engine_id"], e["message"]) for e in removed] == [(engine_id, str(Reason.namespace_lost))]


async def test_only_engines_of_an_earlier_gluetun_start_are_replaced(
    open_client: Any, runtime: FakeRuntime
) -> None:
    stack = open_client("single")
    gluetun = next(info for info in runtime.containers.values() if info.name.endswith("-gluetun-1"))
    base = {
        **label.engine_selector("acestream-single"),
        label.VPN: "gluetun",
        label.VPN_CONTAINER_ID: gluetun.id,
    }
    before = runtime.add("e-40001", {**base, label.HOST_HTTP_PORT: "40001", label.VPN_STARTED_AT: "t0"})
    current = runtime.add("e-40002", {**base, label.HOST_HTTP_PORT: "40002", label.VPN_STARTED_AT: "t1"})
    async with stack as client:
        offered = [engine["container_id"] for engine in (await client.get("/engines")).json()]
        assert offered == [current]
        assert before not in runtime.containers and current in runtime.containers
