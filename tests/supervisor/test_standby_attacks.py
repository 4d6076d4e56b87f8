"""Standby engines under faults: a Docker call that fails half-way, the daemon going away mid-start, and
VPNs going down; after each, every container Docker holds is an engine or a standby the supervisor holds
on its own port, or is removed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervisor.core import labels as label
from supervisor.probes import ProbeFailure
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


def held_ports(supervisor: Any) -> list[int]:
    """Host ports the supervisor holds for an engine or a standby (one entry each)."""
    state = supervisor.state
    return [e.slot.host_http for e in state.engines.values()] + [
        s.slot.host_http for s in state.standbys.values()
    ]


def assert_settled(supervisor: Any, runtime: FakeRuntime) -> None:
    """Every container Docker holds is held by the supervisor, on a port of its own, and the pool counts
    exactly those."""
    state = supervisor.state
    held = set(state.engines) | set(state.standbys)
    engines = {
        i for i, info in runtime.containers.items() if info.labels.get(label.ROLE) == label.ENGINE_ROLE
    }
    assert engines == held
    ports = held_ports(supervisor)
    assert len(ports) == len(set(ports)), f"one port held twice: {sorted(ports)}"
    used = sum(state.pool.used(key) for key in state.vpns)
    assert used == len(held) and state.pending == 0


async def test_a_standby_that_cannot_be_removed_to_make_way_is_held_again(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1, max_replicas=2, size=2) as client:
        supervisor = client.app.state.supervisor
        await client.post("/provision/acestream", json={"labels": {"a": "1"}}, headers=auth)
        await supervisor.reconciler.tick()
        (standby,) = [i for i in supervisor.state.standbys]
        runtime.fail_next_removes = 1
        refused = await client.post("/provision/acestream", json={"labels": {"a": "2"}}, headers=auth)
        assert refused.status_code == 503
        assert standby in runtime.containers  # Docker still holds it, on its port and under its name
        assert standby in supervisor.state.standbys  # so the supervisor does too
        assert_settled(supervisor, runtime)
        again = await client.post("/provision/acestream", json={"labels": {"a": "2"}}, headers=auth)
        assert again.status_code == 200, again.text
        assert standby not in runtime.containers
        assert_settled(supervisor, runtime)


@pytest.mark.parametrize("mode", ["created", "paused"])
async def test_a_standby_start_cut_off_by_the_daemon_is_held_again_not_forgotten(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str], mode: str
) -> None:
    async with open_client("standalone", standby=1, standby_mode=mode) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        (standby,) = list(supervisor.state.standbys)
        runtime.daemon_down = True
        answer = await client.post("/provision/acestream", headers=auth)
        assert answer.status_code == 503
        runtime.daemon_down = False
        assert standby in runtime.containers
        assert standby in supervisor.state.standbys  # not forgotten while Docker holds it
        assert_settled(supervisor, runtime)
        await supervisor.reconciler.tick()  # the daemon answers again; the standby is still one
        assert standby in supervisor.state.standbys
        made = await client.post("/provision/acestream", headers=auth)
        assert made.status_code == 200, made.text
        assert made.json()["container_id"] == standby  # started after all, never a second on its port
        await supervisor.reconciler.tick()
        assert_settled(supervisor, runtime)


async def test_a_standby_behind_a_vpn_that_went_down_gives_way_to_one_on_the_vpn_that_serves(
    open_client: Any, runtime: FakeRuntime, probes: Any, auth: dict[str, str]
) -> None:
    """Redundant mode, failover: the cold provisions all go to the VPN still up, so that is where the
    standby has to be; one behind the VPN that is down can never be started."""
    async with open_client("redundant", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        (held,) = supervisor.state.standbys.values()
        down = held.slot.vpn
        address = supervisor.state.vpns[down].address
        report = probes.vpn_report

        async def one_down(host: str, *args: Any) -> Any:
            if host == address:
                raise ProbeFailure(f"control server {host}: connection refused")
            return await report(host, *args)

        probes.vpn_report = one_down
        await supervisor.vpn.tick()
        assert not supervisor.state.vpns[down].connected
        await supervisor.reconciler.tick()
        await supervisor.reconciler.tick()
        standby_vpns = [s.slot.vpn for s in supervisor.state.standbys.values()]
        assert standby_vpns and all(vpn != down for vpn in standby_vpns), standby_vpns
        made = (await client.post("/provision/acestream", headers=auth)).json()
        assert made["container_id"] in runtime.starts  # started from the standby, not created cold
        await supervisor.reconciler.tick()
        assert_settled(supervisor, runtime)


async def test_a_restart_holds_a_paused_standby_and_one_in_a_vpn_again_each_on_its_own_port(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("single", standby=2, standby_mode="paused") as client:
        supervisor = client.app.state.supervisor
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        before = set(supervisor.state.standbys)
        assert len(before) == 2 and all(runtime.containers[i].paused for i in before)
    async with open_client("single", standby=2, standby_mode="paused") as client:
        supervisor = client.app.state.supervisor
        assert set(supervisor.state.standbys) == before and supervisor.state.engines == {}
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert set(supervisor.state.standbys) == before  # neither removed, adopted nor doubled
        assert_settled(supervisor, runtime)
        forwarded = (await client.post("/provision/acestream", headers=auth)).json()
        assert forwarded["container_id"] not in before  # the forwarded engine: its own P2P port
        assert supervisor.state.engines[forwarded["container_id"]].forwarded
        supervisor.state.engines[forwarded["container_id"]].claimed_until = 0
        supervisor.state.engines[forwarded["container_id"]].ready = False
        made = (await client.post("/provision/acestream", headers=auth)).json()
        assert made["container_id"] in before and runtime.unpauses == [made["container_id"]]
        await supervisor.reconciler.tick()
        assert len(supervisor.state.standbys) == 2
        assert_settled(supervisor, runtime)


async def test_a_standby_on_the_last_free_port_makes_way_for_the_forwarded_engine(
    open_client: Any, runtime: FakeRuntime, probes: Any, auth: dict[str, str]
) -> None:
    """The forwarded port appears once an engine runs and a standby holds the last port: the next cold
    engine is the forwarded one (peers can reach it), not the standby with an ordinary P2P port."""
    probes.forwarded_port = None
    async with open_client("single", standby=1, max_replicas=2, size=2) as client:
        supervisor = client.app.state.supervisor
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        first = (await client.post("/provision/acestream", headers=auth)).json()
        await supervisor.reconciler.tick()
        (standby,) = list(supervisor.state.standbys)
        probes.forwarded_port = 5914
        await supervisor.vpn.tick()
        made = await client.post("/provision/acestream", headers=auth)  # the first is still claimed
        assert made.status_code == 200, made.text
        engine = supervisor.state.engines[made.json()["container_id"]]
        assert engine.container_id != first["container_id"]
        assert engine.forwarded and runtime.containers[engine.container_id].labels[label.P2P_PORT] == "5914"
        assert standby not in runtime.containers
        assert_settled(supervisor, runtime)


@pytest.mark.parametrize("labels", [{}, {"a": "2"}])
async def test_a_paused_standby_still_booting_on_the_last_free_port_gives_way_to_a_provision(
    open_client: Any, runtime: FakeRuntime, probes: Any, auth: dict[str, str], labels: dict[str, str]
) -> None:
    """Ports and max for two engines: while the successor standby boots on the second port (its engine
    takes seconds to answer), a provision is not refused for want of a port; the standby gives way."""
    async with open_client("standalone", standby=1, standby_mode="paused", max_replicas=2, size=2) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        first = (await client.post("/provision/acestream", headers=auth)).json()
        other = 19001 if first["host_http_port"] == 19000 else 19000
        probes.silent.add(other)  # the successor's engine does not answer yet
        tick = asyncio.ensure_future(supervisor.reconciler.tick())
        while not any(c.running for c in runtime.containers.values() if c.labels.get(label.STANDBY)):
            await asyncio.sleep(0.01)
        made = await client.post("/provision/acestream", json={"labels": labels}, headers=auth)
        assert made.status_code == 200, made.text
        assert made.json()["host_http_port"] == other
        await tick
        assert supervisor.state.standbys == {}  # max reached: none made again
        (engine,) = [e for e in supervisor.state.engines.values() if e.slot.host_http == other]
        assert runtime.containers[engine.container_id].labels.get(label.STANDBY) is None  # a fresh one
        await supervisor.reconciler.tick()
        assert_settled(supervisor, runtime)
