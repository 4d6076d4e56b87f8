"""A host port that another program holds is that port's fault: it is skipped for a while and the same
provision tries the next free slot, so one foreign listener never stops provisioning or opens the breaker."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.core.ports import PORT_QUARANTINE_S
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


async def test_a_foreign_listener_on_the_lowest_port_never_blocks_provisioning(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str], clock: Any
) -> None:
    runtime.foreign_listeners.add(19000)
    async with open_client("standalone") as client:
        ports = []
        for _ in range(5):
            answer = await client.post("/provision/acestream", headers=auth)
            assert answer.status_code == 200, answer.text
            ports.append(answer.json()["host_http_port"])
        assert 19000 not in ports and len(set(ports)) == 5
        status = (await client.get("/orchestrator/status")).json()
        assert status["provisioning"]["circuit_breaker_state"] == "closed"
        metrics = (await client.get("/metrics")).text
        assert 'ace_supervisor_provision_attempts_total{result="port_quarantined"} 1.0' in metrics
        # Once the quarantine is over and the port is free again, it is handed out once more.
        runtime.foreign_listeners.clear()
        clock.advance(PORT_QUARANTINE_S)
        again = (await client.post("/provision/acestream", headers=auth)).json()
        assert again["host_http_port"] == 19000


async def test_asking_for_a_held_port_is_a_409_and_many_held_ports_a_503_without_the_breaker(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    runtime.foreign_listeners.update({19000, 19001, 19002, 19005})
    async with open_client("standalone") as client:
        exact = await client.post("/provision/acestream", json={"host_port": 19005}, headers=auth)
        assert exact.status_code == 409 and "held by another program" in exact.text
        gave_up = await client.post("/provision/acestream", headers=auth)
        assert gave_up.status_code == 503 and "3 engine ports in a row" in gave_up.text
        made = (await client.post("/provision/acestream", headers=auth)).json()
        assert made["host_http_port"] == 19003
        assert (await client.get("/engines")).json()[0]["port"] == 19003
        status = (await client.get("/orchestrator/status")).json()
        assert status["provisioning"]["circuit_breaker_state"] == "closed"
        assert status["engines"]["total"] == 1


@pytest.mark.parametrize(
    ("message", "held"),
    [
        ("Bind for 0.0.0.0:19000 failed: port is already allocated", True),
        (
            "driver failed programming external connectivity on endpoint x: Error starting userland proxy: "
            "listen tcp4 127.0.0.1:27190: bind: address already in use",
            True,
        ),
        ("OCI runtime create failed: exec: no such file", False),
        ("Read timed out. (read timeout=60)", False),
    ],
)
def test_docker_words_for_a_held_port_are_recognised(message: str, held: bool) -> None:
    from supervisor.runtime.base import port_unavailable

    assert port_unavailable(message) is held
