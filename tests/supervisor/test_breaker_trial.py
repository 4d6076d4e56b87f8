"""The half-open breaker lets exactly one trial provision through, and a status query does not take it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervisor.core.breaker import BreakerState, CircuitBreaker
from supervisor.core.clock import ManualClock
from supervisor.runtime.fake import FakeRuntime


def opened(clock: ManualClock) -> CircuitBreaker:
    breaker = CircuitBreaker(clock, threshold=1, recovery_timeout_s=60)
    breaker.record_failure("boom")
    clock.advance(60)
    assert breaker.state is BreakerState.half_open
    return breaker


def test_half_open_lets_one_trial_through_until_it_ends() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    assert breaker.allows()
    breaker.begin()
    assert not breaker.allows() and not breaker.allows()  # the trial is under way
    assert breaker.recovery_eta_seconds() == 1
    breaker.record_failure("still broken")  # the trial failed: open for another timeout
    assert breaker.state is BreakerState.open and not breaker.allows()
    clock.advance(60)
    assert breaker.allows()
    breaker.begin()
    assert not breaker.allows()
    breaker.record_success()  # the trial worked: closed, everyone goes through
    assert breaker.state is BreakerState.closed and breaker.allows() and breaker.allows()


def test_asking_does_not_claim_the_trial() -> None:
    breaker = opened(ManualClock())
    assert breaker.allows() and breaker.allows() and breaker.allows()
    breaker.begin()
    assert not breaker.allows()


def test_begin_outside_half_open_changes_nothing() -> None:
    breaker = CircuitBreaker(ManualClock(), threshold=1, recovery_timeout_s=60)
    breaker.begin()
    assert breaker.allows() and breaker.state is BreakerState.closed


def test_a_trial_that_never_reports_back_is_given_up_after_the_recovery_timeout() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    breaker.begin()  # claimed, then the provision was abandoned before reaching Docker
    clock.advance(59)
    assert not breaker.allows()
    clock.advance(1)
    assert breaker.allows()


@pytest.mark.anyio
async def test_a_burst_on_a_half_open_breaker_starts_one_engine_and_status_keeps_the_trial(
    open_client: Any, runtime: FakeRuntime, clock: ManualClock, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        runtime.fail_next_creates = 5
        for _ in range(5):
            await client.post("/provision/acestream", headers=auth)
        clock.advance(300)
        status = (await client.get("/orchestrator/status")).json()["provisioning"]
        assert status["circuit_breaker_state"] == "half_open" and status["can_provision"]
        runtime.create_delay = asyncio.Event()
        burst = [asyncio.ensure_future(client.post("/provision/acestream", headers=auth)) for _ in range(4)]
        for _ in range(1000):  # until every request is either refused or held in Docker
            if runtime.in_flight + sum(request.done() for request in burst) == len(burst):
                break
            await asyncio.sleep(0)
        assert runtime.in_flight == 1  # the one trial
        runtime.create_delay.set()
        answers = sorted(answer.status_code for answer in await asyncio.gather(*burst))
        assert answers == [200, 503, 503, 503]
        assert len([info for info in runtime.containers.values() if info.name.startswith("acestream")]) == 1
        status = (await client.get("/orchestrator/status")).json()["provisioning"]
        assert status["circuit_breaker_state"] == "half_open"  # the trial engine runs, not yet answered
        await client.app.state.supervisor.readiness.tick()  # it answers: the trial succeeded
        status = (await client.get("/orchestrator/status")).json()["provisioning"]
        assert status["circuit_breaker_state"] == "closed" and status["can_provision"]


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["daemon", "port"])
async def test_a_trial_that_proves_nothing_about_the_image_does_not_hold_the_breaker_open(
    fault: str, open_client: Any, runtime: FakeRuntime, clock: ManualClock, auth: dict[str, str]
) -> None:
    """The half-open trial meets a daemon that does not answer, or a host port another program holds:
    neither says anything about the image, so the next provision is the trial (not one 300 s later)."""
    async with open_client("standalone") as client:
        runtime.fail_next_creates = 5
        for n in range(5):
            await client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=auth)
        clock.advance(300)  # half-open: the next provision is the trial
        if fault == "daemon":
            runtime.daemon_down = True
            trial = await client.post("/provision/acestream", headers=auth)
            assert trial.json()["detail"]["code"] == "docker_unreachable"
            runtime.daemon_down = False
            clock.advance(1)  # the daemon is asked again after a second
        else:
            runtime.foreign_listeners.add(19000)  # the trial's slot is held; it retries the next one
        answer = await client.post("/provision/acestream", headers=auth)
        assert answer.status_code == 200, answer.text
        await client.app.state.supervisor.readiness.tick()  # it answers: the trial succeeded
        status = (await client.get("/orchestrator/status")).json()["provisioning"]
        assert status["circuit_breaker_state"] == "closed"
