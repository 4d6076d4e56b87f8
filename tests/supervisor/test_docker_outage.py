"""A Docker daemon that does not answer is its own state: provisions are refused with
`docker_unreachable` (should_wait), the breaker stays closed, and provisioning resumes as soon as the
daemon answers again."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.core.capacity import DOCKER_RECHECK_S
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


async def test_an_outage_pauses_provisioning_without_the_breaker_and_resumes_at_once(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        threshold = supervisor.config.stack.timings.circuit_breaker_failure_threshold
        runtime.daemon_down = True
        for _ in range(threshold * 2):
            refused = await client.post("/provision/acestream", headers=auth)
            assert refused.status_code == 503
            detail = refused.json()["detail"]
            assert (detail["code"], detail["should_wait"], detail["can_retry"]) == (
                "docker_unreachable",
                True,
                True,
            )
            clock.advance(DOCKER_RECHECK_S)
        await supervisor.reconciler.tick()  # a listing that does not come judges nothing
        status = (await client.get("/orchestrator/status")).json()
        assert status["provisioning"]["circuit_breaker_state"] == "closed"
        assert status["provisioning"]["blocked_reason"] == "docker_unreachable"
        assert status["status"] == "unavailable"  # no engine runs and none can be made
        runtime.daemon_down = False
        clock.advance(DOCKER_RECHECK_S)
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
        status = (await client.get("/orchestrator/status")).json()
        assert status["provisioning"]["can_provision"] is True and status["status"] == "healthy"


async def test_a_loop_seeing_the_daemon_back_clears_the_outage(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        runtime.daemon_down = True
        await supervisor.vpn.tick()
        assert (await client.post("/provision/acestream", headers=auth)).json()["detail"]["code"] == (
            "docker_unreachable"
        )
        runtime.daemon_down = False
        await supervisor.vpn.tick()  # the next VPN check lists Docker: it answers
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200


def test_the_adapter_tells_no_answer_from_a_refusal() -> None:
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ReadTimeout

    from supervisor.runtime.base import DaemonUnreachable, PortUnavailable, RuntimeFailure
    from supervisor.runtime.docker_runtime import _failure

    assert _failure(RequestsConnectionError("refused")) is DaemonUnreachable
    assert _failure(ReadTimeout("read timed out")) is DaemonUnreachable
    assert _failure(RuntimeError("port is already allocated")) is PortUnavailable
    assert _failure(RuntimeError("no such image")) is RuntimeFailure
