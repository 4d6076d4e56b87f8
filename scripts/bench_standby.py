"""`just bench-standby`: a cold provision that starts a standby, next to Docker's raw create+start.

On the private bench daemon (started with scripts/test-dockerd when it is not running, stopped again
afterwards in that case; images built or reused by tests/bench/images.py), ROUNDS rounds, interleaved so
that the machine's noise falls on both alike:

- raw: create_container + start of an engine stand-in with the docker SDK (the image, environment, labels
  and port binding the supervisor uses), timed from the first call to start's return, then removed;
- standby: `POST /provision/acestream` (what acexy sends) to `ace-supervisor serve` with
  `replicas.standby: 1`, once its standby is created, timed on the client until the answer (the container
  runs, as after the raw start); then the engine is deleted and the next round waits for the successor;
- start only: `start` of a container created beforehand, the floor a standby can reach.

Prints medians, their ratio (issue 9's goal: <= 0.6) and each round. Benchmarks print figures; they never
assert timings. Every container made here is removed at the end.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout, whatever the venv installed

import docker  # noqa: E402
import httpx  # noqa: E402
from bench import images  # noqa: E402
from e2e import supervisor_harness as harness  # noqa: E402

from supervisor.core import labels as label  # noqa: E402
from supervisor.core.environment import engine_environment  # noqa: E402
from supervisor.stack_settings import STANDALONE_CONTAINER_HTTP_PORT, StackSettings  # noqa: E402

TEST_DOCKERD = ROOT / "scripts" / "test-dockerd"
ROUNDS = 10
FIRST_PORT = 27430  # the supervisor's engines: 27430-27434
RAW_PORT = 27436  # the raw containers, outside the supervisor's range
GOAL = 0.6


def raw_create(
    client: docker.DockerClient, settings: StackSettings, network: str, labels: dict[str, str], tag: str
) -> str:
    api = client.api
    host_config = api.create_host_config(
        network_mode=network,
        port_bindings={STANDALONE_CONTAINER_HTTP_PORT: ("127.0.0.1", RAW_PORT)},
        restart_policy={"Name": "unless-stopped"},
    )
    created = api.create_container(
        settings.engine.image,
        name=f"{network}-raw-{tag}",
        environment=engine_environment(settings.engine.port_style, 6878, 6879, 8621),
        labels={**labels, label.HOST_HTTP_PORT: str(RAW_PORT)},
        host_config=host_config,
        ports=[STANDALONE_CONTAINER_HTTP_PORT],
        networking_config={"EndpointsConfig": {network: {}}},
    )
    return str(created["Id"])


def standby_ready(client: httpx.Client) -> bool:
    return bool(client.get("/orchestrator/status").json()["standby"]["ready"] == 1)


def rounds(
    docker_client: docker.DockerClient, supervisor: harness.SupervisorProcess, labels: dict[str, str]
) -> tuple[list[float], list[float], list[float]]:
    raw, through, start_only = [], [], []
    api = docker_client.api
    with supervisor.client(timeout=30) as client:
        for index in range(ROUNDS):
            began = time.perf_counter()
            container_id = raw_create(
                docker_client, supervisor.settings, supervisor.network, labels, f"a{index}"
            )
            api.start(container_id)
            raw.append(time.perf_counter() - began)
            api.remove_container(container_id, force=True)

            container_id = raw_create(
                docker_client, supervisor.settings, supervisor.network, labels, f"b{index}"
            )
            began = time.perf_counter()
            api.start(container_id)
            start_only.append(time.perf_counter() - began)
            api.remove_container(container_id, force=True)

            harness.wait_until(lambda: standby_ready(client), 30, "the standby", interval=0.05)
            began = time.perf_counter()
            answer = client.post("/provision/acestream", json={}, headers=harness.AUTH)
            through.append(time.perf_counter() - began)
            answer.raise_for_status()
            client.delete(
                f"/engines/{answer.json()['container_id']}", headers=harness.AUTH
            ).raise_for_status()
    return raw, through, start_only


def benchmark(client: docker.DockerClient, docker_host: str, workdir: Path) -> None:
    name = f"bench-standby-{uuid.uuid4().hex[:8]}"
    labels = {"ace.bench.project": name}
    settings = harness.stack_settings(
        workdir, name, "standalone", FIRST_PORT, ports=5, max_replicas=3, replicas={"standby": 1}
    )
    network = harness.make_network(client, name, labels)
    supervisor = harness.SupervisorProcess(settings, workdir, docker_host, project=name, network=network)
    try:
        with harness.running_supervisor(supervisor):
            raw, through, start_only = rounds(client, supervisor, labels)
    finally:
        supervisor.stop()
        for key in (label.COMPOSE_PROJECT, "ace.bench.project"):
            for container in client.containers.list(all=True, filters={"label": f"{key}={name}"}):
                container.remove(force=True)
        client.networks.get(network).remove()
    raw_median, standby_median = statistics.median(raw), statistics.median(through)
    print(f"a cold engine, {ROUNDS} interleaved rounds (medians):")
    print(f"  raw docker SDK create_container + start        {raw_median * 1000:7.1f} ms")
    print(f"  POST /provision/acestream, starts its standby  {standby_median * 1000:7.1f} ms")
    print(f"  raw start of a created container (the floor)   {statistics.median(start_only) * 1000:7.1f} ms")
    print(
        f"  ratio standby provision / raw create+start     {standby_median / raw_median:7.2f}"
        f"  (goal <= {GOAL})"
    )
    print("  rounds (raw, standby, start only), ms:")
    for row in zip(raw, through, start_only, strict=True):
        print("   " + "  ".join(f"{value * 1000:7.1f}" for value in row))


def main() -> None:
    started_daemon = subprocess.run([str(TEST_DOCKERD), "status"], capture_output=True).returncode != 0
    host = subprocess.run([str(TEST_DOCKERD), "start"], capture_output=True, text=True, check=True)
    docker_host = host.stdout.strip().splitlines()[-1]
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=600)
        images.ensure_all(client)
        with tempfile.TemporaryDirectory() as scratch:
            benchmark(client, docker_host, Path(scratch))
        client.close()
    finally:
        if started_daemon:
            subprocess.run([str(TEST_DOCKERD), "stop"], capture_output=True, check=False)


if __name__ == "__main__":
    main()
