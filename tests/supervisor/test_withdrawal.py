"""/engines never offers an engine that cannot serve: a stopped container, a VPN that is down, a lost
namespace, failed health checks. `?all=true` shows every engine with the reason; status counts running
engines from what Docker reports."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.core import labels as label
from supervisor.core.health import HealthStatus
from supervisor.core.offer import Withdrawn, namespace_lost, withdrawal

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({}, None),
        ({"container_running": False}, Withdrawn.container_stopped),
        ({"container_running": False, "vpn_connected": False}, Withdrawn.container_stopped),
        ({"lost_namespace": True, "vpn_connected": False}, Withdrawn.namespace_lost),
        ({"vpn_connected": False}, Withdrawn.vpn_down),
        ({"vpn_connected": False, "on_vpn": False}, None),  # standalone: no VPN to lose
        ({"health": HealthStatus.unhealthy}, Withdrawn.unhealthy),
        ({"health": HealthStatus.unknown}, None),  # not yet probed: a new engine is offered
    ],
)
def test_the_reason_an_engine_is_withdrawn(facts: dict[str, Any], reason: Withdrawn | None) -> None:
    given: dict[str, Any] = {
        "container_running": True,
        "health": HealthStatus.healthy,
        "on_vpn": True,
        "vpn_connected": True,
        "lost_namespace": False,
        **facts,
    }
    assert withdrawal(**given) is reason


def test_a_namespace_is_lost_to_another_gluetun_or_a_later_start() -> None:
    made = {label.VPN_CONTAINER_ID: "g1", label.VPN_STARTED_AT: "t0"}
    assert not namespace_lost(made, "g1", "t0")
    assert namespace_lost(made, "g2", "t0")
    assert namespace_lost(made, "g1", "t1")
    assert not namespace_lost(made, None, None)  # gluetun not found right now: that is vpn_down


async def test_a_vpn_that_goes_down_withdraws_its_engines_until_it_is_back(
    open_client: Any, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        assert [e["container_id"] for e in (await client.get("/engines")).json()] == [engine["container_id"]]
        probes.vpn_status = "stopped"
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert (await client.get("/engines")).json() == []
        (listed,) = (await client.get("/engines", params={"all": "true"})).json()
        assert listed["withdrawn"] == "vpn_down"
        probes.vpn_status = "running"
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert [e["container_id"] for e in (await client.get("/engines")).json()] == [engine["container_id"]]


async def test_status_counts_running_engines_from_docker(
    open_client: Any, runtime: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        first = (await client.post("/provision/acestream", headers=auth)).json()
        await client.post("/provision/acestream", headers=auth)
        runtime.kill(first["container_id"])
        await supervisor.reconciler.tick()
        engines = (await client.get("/orchestrator/status")).json()["engines"]
        assert (engines["total"], engines["running"]) == (2, 1)
