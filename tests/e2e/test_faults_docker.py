"""Faults on the real bench daemon, each converging without a person: an engine killed or removed behind
the supervisor's back, an orphan engine container, a second supervisor on the same stack.

Each test prints the time from the fault to the first moment `/engines` no longer offers the bad engine
and to full convergence; the figures are for reading, never pass/fail thresholds.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import docker
import httpx
import pytest
from e2e import supervisor_harness as harness

from supervisor.core import labels as label

pytestmark = pytest.mark.docker

AUTH = {"Authorization": f"Bearer {harness.API_KEY}"}


def offered(client: httpx.Client) -> set[str]:
    return {engine["container_id"] for engine in client.get("/engines").json()}


def ready_engines(client: httpx.Client, count: int, timeout: float = 30) -> set[str]:
    """Wait until `count` engines are offered and each answers on its port; their ids."""

    def enough() -> bool:
        engines = client.get("/engines").json()
        return len(engines) == count and all(harness.engine_answers(e["port"]) for e in engines)

    harness.wait_until(enough, timeout, f"{count} ready engines")
    return offered(client)


def until(predicate: Any, timeout: float, what: str) -> float:
    """Seconds until `predicate` holds (polled every 20 ms)."""
    start = time.monotonic()
    harness.wait_until(predicate, timeout, what, interval=0.02)
    return time.monotonic() - start


def states_agree(docker_client: docker.DockerClient, supervisor: Any, client: httpx.Client) -> None:
    """Nothing lost: SQLite's running engines are Docker's engine containers are what /engines?all shows,
    and no two share a port."""
    containers = harness.engine_containers(docker_client, supervisor.settings)
    listed = client.get("/engines", params={"all": "true"}).json()
    store = supervisor.store_rows()
    running = {cid for cid, (state, _) in store.items() if state == "running"}
    assert {c.id for c in containers} == {e["container_id"] for e in listed} == running
    ports = [e["port"] for e in listed]
    assert len(ports) == len(set(ports))


@pytest.mark.parametrize("fault", ["kill", "rm"])
def test_an_engine_killed_or_removed_behind_our_back_is_withdrawn_at_once_and_replaced(
    stack_for: Any, docker_client: docker.DockerClient, fault: str
) -> None:
    supervisor = stack_for("standalone", 27060 if fault == "kill" else 27070, replicas={"min": 2})
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        before = ready_engines(client, 2)
        victim = sorted(before)[0]
        started = time.monotonic()
        if fault == "kill":
            docker_client.containers.get(victim).kill()
        else:
            docker_client.containers.get(victim).remove(force=True)
        withdrawn = until(lambda: victim not in offered(client), 10, "the dead engine withdrawn")
        ready_engines(client, 2, timeout=30)
        converged = time.monotonic() - started
        window = supervisor.settings.timings.engine_restart_window_s
        harness.report_fault(
            f"docker {fault} of an engine", withdrawn, converged, f"restart window {window:g} s"
        )
        assert victim not in {c.id for c in harness.engine_containers(docker_client, supervisor.settings)}
        events = client.get("/events", params={"engine": victim}).json()
        assert any(e["type"] == "engine_removed" for e in events), events
        states_agree(docker_client, supervisor, client)


def test_an_orphan_engine_is_adopted_on_a_free_slot_and_removed_on_a_taken_one(
    stack_for: Any, docker_client: docker.DockerClient, bench_cleanup: str
) -> None:
    supervisor = stack_for("standalone", 27080)
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        made = client.post("/provision/acestream", headers=AUTH).json()
        ready_engines(client, 1)
        template = docker_client.containers.get(made["container_id"])
        image = template.image.id
        network = next(iter(template.attrs["NetworkSettings"]["Networks"]))

        def orphan(port: int) -> Any:
            """An engine of this stack the supervisor does not hold (a create that timed out, say)."""
            labels = {
                **template.labels,
                label.HOST_HTTP_PORT: str(port),
                label.SPEC_HASH: template.labels[label.SPEC_HASH],
            }
            return docker_client.containers.run(
                image,
                detach=True,
                name=f"{bench_cleanup}-orphan-{port}-{time.monotonic_ns() % 10_000}",
                labels=labels,
                environment=template.attrs["Config"]["Env"],
                network=network,
                ports={"6878/tcp": ("127.0.0.1", port)},
            )

        free_one = orphan(27085)
        adopted = until(lambda: free_one.id in offered(client), 20, "the orphan on a free slot adopted")
        twin = docker_client.containers.create(
            image,
            name=f"{bench_cleanup}-orphan-twin",
            labels={**template.labels, label.HOST_HTTP_PORT: str(made["host_http_port"])},
            network=network,
        )
        twin.start()  # it claims the port of the engine the supervisor holds
        removed = until(
            lambda: (
                twin.id not in {c.id for c in harness.engine_containers(docker_client, supervisor.settings)}
            ),
            20,
            "the orphan on a taken port removed",
        )
        assert made["container_id"] in offered(client)
        harness.report_fault("orphan on a free slot (adopted)", None, adopted, "orphan settle 5 s")
        harness.report_fault("orphan on a taken port (removed)", None, removed, "orphan settle 5 s")
        more = [
            client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=AUTH).json()
            for n in range(2)
        ]
        assert {27085, made["host_http_port"]}.isdisjoint(m["host_http_port"] for m in more)
        states_agree(docker_client, supervisor, client)


def test_a_second_supervisor_on_the_same_stack_refuses_to_start_naming_the_first(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = stack_for("standalone", 27090)
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        client.post("/provision/acestream", headers=AUTH)
        before = harness.engine_containers(docker_client, supervisor.settings)
        env = {**supervisor.environment(), "ACE_SUPERVISOR_PORT": str(harness.free_supervisor_port())}
        env["ACE_SUPERVISOR_DB_PATH"] = str(supervisor.workdir / "second.db")
        second = subprocess.run(
            [str(harness.SUPERVISOR_BIN), "serve"], env=env, capture_output=True, text=True, timeout=30
        )
        assert second.returncode != 0
        assert "another supervisor already runs" in second.stderr
        assert f"pid {supervisor.process.pid}" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        after = harness.engine_containers(docker_client, supervisor.settings)
        assert {c.id for c in after} == {c.id for c in before}  # the second touched nothing
    # Stopped cleanly: the lease is given back, and a new supervisor starts (and adopts the engine).
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        assert {c.id for c in before} == offered(client)
