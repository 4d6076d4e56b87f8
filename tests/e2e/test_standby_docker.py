"""Standby engines on the real-Docker bench: a container created and never started (Docker's `created`
state, the standby label), started by a cold provision as the same container, its successor created in
the background on another port, and held again (not removed as debris) by a supervisor that restarts."""

from __future__ import annotations

from typing import Any

import docker
import pytest
from e2e import supervisor_harness as harness

from supervisor.core import labels as label

pytestmark = pytest.mark.docker


# Docker's state of a standby container in each replicas.standby_mode.
DOCKER_STATE = {"created": "created", "paused": "paused"}


def standbys(docker_client: docker.DockerClient, settings: Any, state: str) -> list[Any]:
    return [
        container
        for container in harness.engine_containers(docker_client, settings)
        if container.labels.get(label.STANDBY) == "true" and container.status == state
    ]


def one_standby(docker_client: docker.DockerClient, settings: Any, state: str, other_than: str = "") -> Any:
    found: list[Any] = []

    def ready() -> bool:
        found[:] = [c for c in standbys(docker_client, settings, state) if c.id != other_than]
        return len(found) == 1

    harness.wait_until(ready, 30, f"one standby container in Docker's {state} state")
    return found[0]


@pytest.mark.parametrize(("mode", "first_port"), [("created", 27430), ("paused", 27435)])
def test_a_cold_provision_starts_the_standby_container_and_a_restart_keeps_its_successor(
    stack_for: Any, docker_client: docker.DockerClient, mode: str, first_port: int
) -> None:
    replicas = {"standby": 1, "standby_mode": mode}
    supervisor = stack_for("standalone", first_port, ports=5, max_replicas=3, replicas=replicas)
    state = DOCKER_STATE[mode]
    supervisor.start()
    with supervisor.client() as client:
        standby = one_standby(docker_client, supervisor.settings, state)
        assert client.get("/engines", params={"all": "true"}).json() == []  # not an engine
        port = int(standby.labels[label.HOST_HTTP_PORT])
        assert not harness.engine_answers(port)  # created: nothing listens; paused: nothing answers

        made = client.post("/provision/acestream", headers=harness.AUTH)
        assert made.status_code == 200, made.text
        assert made.json()["container_id"] == standby.id and made.json()["host_http_port"] == port
        standby.reload()
        assert standby.status == "running"
        harness.wait_until(lambda: harness.engine_answers(port), 15, f"the started standby on {port}")

        successor = one_standby(docker_client, supervisor.settings, state, other_than=standby.id)
        assert int(successor.labels[label.HOST_HTTP_PORT]) != port
        assert client.get("/orchestrator/status").json()["standby"] == {"wanted": 1, "ready": 1}

    supervisor.kill()  # no shutdown code runs
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        assert one_standby(docker_client, supervisor.settings, state).id == successor.id  # held, not debris
        listed = [engine["container_id"] for engine in client.get("/engines").json()]
        assert listed == [standby.id]
        again = client.post("/provision/acestream", headers=harness.AUTH)
        assert again.status_code == 200, again.text
        assert again.json()["container_id"] in (standby.id, successor.id)  # reused, or the standby started
