"""max_streams_per_engine is capacity: an engine is free while it carries fewer streams than the limit;
autoscale keeps `min_free` free engines by that rule, status counts capacity by it, and a stream beyond
the limit is recorded all the same and shows in the metrics."""

from __future__ import annotations

from typing import Any

import pytest
from acexy_events import started_event

pytestmark = pytest.mark.anyio


async def _start(client: Any, auth: dict[str, str], port: int, session: str) -> None:
    answer = await client.post(
        "/events/stream_started", json=started_event(port, session=session), headers=auth
    )
    assert answer.status_code == 200, answer.text


async def test_an_engine_stays_free_until_it_carries_the_limit(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_streams_per_engine=2, min_free=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        (engine,) = (await client.get("/engines")).json()
        port = engine["port"]
        await _start(client, auth, port, "s1")
        await supervisor.reconciler.tick()
        assert len((await client.get("/engines")).json()) == 1  # one stream of two: still free
        status = (await client.get("/orchestrator/status")).json()
        assert (status["capacity"]["used"], status["capacity"]["available"]) == (0, 1)
        await _start(client, auth, port, "s2")
        status = (await client.get("/orchestrator/status")).json()
        assert (status["capacity"]["used"], status["capacity"]["available"]) == (1, 0)
        await supervisor.reconciler.tick()
        assert len((await client.get("/engines")).json()) == 2  # full: min_free asks for one more


async def test_a_stream_beyond_the_limit_is_recorded_and_counted(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_streams_per_engine=1) as client:
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        for session in ("s1", "s2", "s3"):
            await _start(client, auth, engine["host_http_port"], session)
        status = (await client.get("/orchestrator/status")).json()
        assert status["streams"]["active"] == 3
        metrics = (await client.get("/metrics")).text
        assert "ace_supervisor_streams_over_limit 2.0" in metrics


def test_a_full_stack_says_wait_only_when_an_engine_is_expected_to_free_up() -> None:
    from supervisor.core.capacity import (
        BlockCode,
        ProvisioningBlocked,
        ProvisionInputs,
        VpnView,
        choose_vpn,
        freeing_eta,
    )

    assert freeing_eta([], removing=0, grace_period_s=30, interval_s=30) is None  # every engine busy
    assert freeing_eta([], removing=1, grace_period_s=30, interval_s=30) == 1  # a removal in flight
    assert (
        freeing_eta([5.0, 40.0], removing=0, grace_period_s=30, interval_s=30) == 30
    )  # past grace: next pass
    assert freeing_eta([5.0], removing=0, grace_period_s=30, interval_s=30) == 55
    for eta, should_wait in ((None, False), (30, True)):
        full = ProvisionInputs(1, 1, (VpnView(None, True, 1, 0),), False, 0, 5, eta)
        with pytest.raises(ProvisioningBlocked) as raised:
            choose_vpn(full)
        detail = raised.value.detail()
        assert detail["code"] == BlockCode.max_capacity.value and detail["can_retry"] is False
        assert (detail["should_wait"], detail["recovery_eta_seconds"]) == (should_wait, eta or 0)


async def test_acexy_is_told_to_fail_fast_when_every_engine_serves(
    open_client: Any, auth: dict[str, str], clock: Any
) -> None:
    async with open_client("standalone", max_replicas=1) as client:
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        idle = (await client.post("/provision/acestream", headers=auth)).json()["detail"]
        assert idle["code"] == "max_capacity" and idle["should_wait"] is True  # the idle one frees up
        await _start(client, auth, engine["host_http_port"], "s1")
        busy = (await client.post("/provision/acestream", headers=auth)).json()["detail"]
        assert (busy["code"], busy["should_wait"], busy["can_retry"]) == ("max_capacity", False, False)
