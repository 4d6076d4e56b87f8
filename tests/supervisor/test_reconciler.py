"""The reconciler on the fake runtime: Docker events, orphans, drift, VPN restarts and failover, and
provisions that hand out an idle engine instead of stranding a new one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.core import labels as label
from supervisor.core.offer import CLAIM_S
from supervisor.core.reconcile import ORPHAN_SETTLE_S
from supervisor.runtime.base import ContainerAction, ContainerEvent
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


async def settle() -> None:
    """Let every ready task run until it waits on the clock or an event again."""
    for _ in range(100):
        await asyncio.sleep(0)


async def ids(client: Any, **params: str) -> list[str]:
    return [engine["container_id"] for engine in (await client.get("/engines", params=params)).json()]


async def test_a_killed_engine_is_withdrawn_on_dockers_event_and_replaced_after_the_restart_window(
    open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    async with open_client("standalone", loops=True, min=2) as client:
        supervisor = client.app.state.supervisor
        await settle()
        first, second = await ids(client)
        runtime.kill(first)  # docker kill: a die event, and no restart policy brings it back
        await settle()  # the event alone, no tick of any loop
        assert await ids(client) == [second]
        (stopped,) = [
            e
            for e in (await client.get("/engines", params={"all": "true"})).json()
            if e["container_id"] == first
        ]
        assert stopped["withdrawn"] == "container_stopped" and stopped["phase"] == "stopped"
        clock.advance(supervisor.config.stack.timings.engine_restart_window_s)
        await settle()
        assert first not in runtime.containers  # removed, its port freed, a fresh engine in its place
        now = await ids(client)
        assert len(now) == 2 and second in now
        kinds = [e["type"] for e in (await client.get("/events", params={"engine": first})).json()]
        assert "engine_stopped" in kinds and "engine_removed" in kinds


async def test_an_engine_its_restart_policy_brings_back_within_the_window_is_kept(
    open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    async with open_client("standalone", loops=True, min=1) as client:
        await settle()
        (engine_id,) = await ids(client)
        runtime.kill(engine_id)
        await settle()
        assert await ids(client) == []
        runtime.start(engine_id)  # back on its own, same id and port
        await settle()
        clock.advance(10)
        await settle()
        assert await ids(client) == [engine_id]


async def test_docker_rm_is_noticed_from_the_destroy_event_not_the_next_tick(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone", loops=True, min=1) as client:
        supervisor = client.app.state.supervisor
        await settle()
        (engine_id,) = await ids(client)
        runtime.remove_behind(engine_id)
        await settle()
        assert supervisor.store.engine_state(engine_id)[0] == "gone"
        (replacement,) = await ids(client)
        assert replacement != engine_id


def orphan_labels(port: int, **more: str) -> dict[str, str]:
    return {
        **label.engine_selector("acestream-standalone"),
        label.COMPOSE_PROJECT: "acestream-standalone",
        label.HOST_HTTP_PORT: str(port),
        **more,
    }


async def test_a_running_orphan_on_a_free_slot_is_adopted_and_its_port_never_handed_out_again(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", loops=True) as client:
        supervisor = client.app.state.supervisor
        await settle()
        orphan = runtime.add("left-by-a-timed-out-create", orphan_labels(19000))
        await settle()  # its create/start events start a pass: it is seen, not judged yet
        assert orphan not in await ids(client, all="true")
        clock.advance(ORPHAN_SETTLE_S)  # the pass that judges it is due then
        await settle()
        assert orphan in await ids(client, all="true")
        await supervisor.readiness.tick()
        assert orphan in await ids(client)
        made = (await client.post("/provision/acestream", json={"labels": {"n": "1"}}, headers=auth)).json()
        assert made["host_http_port"] != 19000


async def test_orphans_that_cannot_be_held_are_removed(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        held = (await client.post("/provision/acestream", headers=auth)).json()
        twin = runtime.add("twin", orphan_labels(held["host_http_port"]))  # the port is taken
        outside = runtime.add("outside", orphan_labels(25000))  # outside the current range
        exited = runtime.add("exited", orphan_labels(19005), running=False)
        await supervisor.reconciler.tick()
        assert {twin, outside, exited} <= set(runtime.containers)  # seen, judged once they have settled
        clock.advance(ORPHAN_SETTLE_S)
        await supervisor.reconciler.tick()
        assert {twin, outside, exited}.isdisjoint(runtime.containers)
        assert held["container_id"] in runtime.containers
        removed = (await client.get("/events", params={"type": "orphan_removed"})).json()
        assert len(removed) == 3
        await supervisor.reconciler.tick()  # idempotent: nothing more
        assert len((await client.get("/events", params={"type": "orphan_removed"})).json()) == 3


async def test_a_changed_profile_replaces_idle_engines_and_drains_serving_ones(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        made = [
            (await client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=auth)).json()
            for n in range(2)
        ]
        busy, idle = made
        event = started_event(busy["host_http_port"], session="s1")
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
    async with open_client("standalone", image="engine:v2") as client:  # the profile's image changed
        supervisor = client.app.state.supervisor
        assert idle["container_id"] not in runtime.containers  # replaced on the first pass
        assert busy["container_id"] in runtime.containers  # it serves: never cut
        (listed,) = (await client.get("/engines", params={"all": "true"})).json()
        assert listed["withdrawn"] == "draining" and listed["phase"] == "draining"
        await client.post("/events/stream_ended", json={"stream_id": "abc|s1"}, headers=auth)
        await supervisor.reconciler.tick()
        assert busy["container_id"] not in runtime.containers
        new = (await client.post("/provision/acestream", headers=auth)).json()
        assert runtime.specs[new["container_id"]].image == "engine:v2"


async def test_a_vpn_down_past_its_timeout_is_restarted_once_per_timeout(
    open_client: Any, runtime: FakeRuntime, probes: Any, clock: Any
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        timeout = supervisor.config.stack.timings.vpn_restart_timeout_s
        gluetun = next(i for i in runtime.containers.values() if i.name.endswith("-gluetun-1"))
        probes.vpn_status = "stopped"  # gluetun runs, its tunnel does not
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert runtime.restarts == []
        clock.advance(timeout)
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert runtime.restarts == [gluetun.id]
        clock.advance(timeout / 2)
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert runtime.restarts == [gluetun.id]  # once per timeout
        clock.advance(timeout / 2)
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert runtime.restarts == [gluetun.id, gluetun.id]
        restarted = (await client.get("/events", params={"type": "vpn_restarted"})).json()
        assert len(restarted) == 2


async def test_failover_drains_the_failed_vpn_and_rebalances_after_it_is_stable(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("redundant", loops=False) as client:
        supervisor = client.app.state.supervisor
        clock.advance(supervisor.config.stack.timings.vpn_stabilization_s)  # both VPNs long up
        await supervisor.vpn.tick()
        made = [
            (await client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=auth)).json()
            for n in range(4)
        ]
        on_first = [e for e in made if e["host_http_port"] < 40010]
        assert len(on_first) == 2
        event = started_event(on_first[0]["host_http_port"], session="s1")
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        gluetun = next(i for i in runtime.containers.values() if i.name.endswith("-gluetun-1"))
        runtime.remove_behind(gluetun.id)  # the first VPN is gone
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert on_first[1]["container_id"] not in runtime.containers  # idle: removed
        assert on_first[0]["container_id"] in runtime.containers  # its viewer keeps watching
        offered = await ids(client)
        assert not {e["container_id"] for e in on_first} & set(offered)
        assert (await client.get("/events", params={"type": "failover"})).json()
        # New engines go to the healthy VPN meanwhile.
        new = (await client.post("/provision/acestream", json={"labels": {"n": "a"}}, headers=auth)).json()
        assert new["host_http_port"] >= 40010
        # The first VPN comes back: it takes new engines once it has been up for the stabilisation period.
        runtime.add(gluetun.name, gluetun.labels, ip="172.30.0.9", started_at="t2")
        await supervisor.vpn.tick()
        early = (await client.post("/provision/acestream", json={"labels": {"n": "b"}}, headers=auth)).json()
        assert early["host_http_port"] >= 40010
        clock.advance(supervisor.config.stack.timings.vpn_stabilization_s)
        await supervisor.vpn.tick()
        later = (await client.post("/provision/acestream", json={"labels": {"n": "c"}}, headers=auth)).json()
        assert later["host_http_port"] < 40010


async def test_a_provision_hands_out_a_ready_unclaimed_idle_engine_instead_of_creating_one(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        first = (await client.post("/provision/acestream", headers=auth)).json()
        await supervisor.readiness.tick()
        second = (await client.post("/provision/acestream", headers=auth)).json()
        assert second["container_id"] != first["container_id"]  # the first is claimed by its client
        clock.advance(CLAIM_S)  # its client never started a stream (it gave up, say)
        await supervisor.readiness.tick()
        third = (await client.post("/provision/acestream", headers=auth)).json()
        assert third["container_id"] in {first["container_id"], second["container_id"]}
        assert len([i for i in runtime.containers.values() if label.HOST_HTTP_PORT in i.labels]) == 2
        event = started_event(third["host_http_port"], session="s1")
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        clock.advance(CLAIM_S)
        fourth = (await client.post("/provision/acestream", headers=auth)).json()
        assert fourth["container_id"] != third["container_id"]  # an engine with a stream is never handed out
        reused = (await client.get("/events", params={"type": "engine_reused"})).json()
        assert sorted(e["engine_id"] for e in reused) == sorted(
            [third["container_id"], fourth["container_id"]]
        )
        assert len([i for i in runtime.containers.values() if label.HOST_HTTP_PORT in i.labels]) == 2


async def test_a_listing_older_than_a_die_event_does_not_bring_the_engine_back(
    open_client: Any, runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client("standalone", min=1) as client:  # the test delivers the event itself
        supervisor = client.app.state.supervisor
        (engine_id,) = await ids(client)
        gate = asyncio.Event()
        real_list = runtime.list

        async def stale_list(labels: dict[str, str]) -> Any:
            answer = await real_list(labels)  # Docker answers now, while the engine still runs...
            await gate.wait()  # ...and the answer reaches us only after the engine died
            return answer

        monkeypatch.setattr(runtime, "list", stale_list)
        passing = asyncio.create_task(supervisor.reconciler.tick())
        await settle()
        runtime.kill(engine_id)
        supervisor.reconciler.on_event(ContainerEvent(engine_id, ContainerAction.die, None, {}))
        assert engine_id not in await ids(client)
        gate.set()
        await passing
        assert engine_id not in await ids(client)  # the event is newer than the listing: it wins


async def test_after_a_die_event_only_a_start_event_brings_the_engine_back(
    open_client: Any, runtime: FakeRuntime
) -> None:
    """Docker may still list a container as running for a moment after its die event."""
    async with open_client("standalone", min=1) as client:
        supervisor = client.app.state.supervisor
        (engine_id,) = await ids(client)
        supervisor.reconciler.on_event(ContainerEvent(engine_id, ContainerAction.die, None, {}))
        await supervisor.reconciler.tick()  # the listing still says running
        assert engine_id not in await ids(client)
        supervisor.reconciler.on_event(ContainerEvent(engine_id, ContainerAction.start, None, {}))
        assert await ids(client) == [engine_id]
