"""`just bench-standby`: a cold provision that starts a standby, next to Docker's raw create+start.

On the private bench daemon (started with scripts/test-dockerd when it is not running, stopped again
afterwards in that case; images built or reused by tests/bench/images.py), ROUNDS rounds, interleaved so
that the machine's noise falls on both alike:

- raw: create_container + start of an engine stand-in with the docker SDK (the image, environment, labels
  and port binding the supervisor uses), timed from the first call to start's return, then removed;
- for each `replicas.standby_mode` (created, paused): `POST /provision/acestream` (what acexy sends) to an
  `ace-supervisor serve` with `replicas.standby: 1` in that mode, once its standby is ready, timed on the
  client until the answer (the container runs, as after the raw start); then the engine is deleted;
- before each timed call, every supervisor's successor standby is in place and the daemon quiet for
  0.3 s, so that no background work of either supervisor falls in another's timing;
- start only: `start` of a container created beforehand, the floor a created standby can reach.

Prints medians, each mode's ratio to raw create+start (issue 9's goal: <= 0.6) and each round.
Benchmarks print figures; they never assert timings. Every container made here is removed at the end.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout, whatever the venv installed

import docker  # noqa: E402
import httpx  # noqa: E402
from bench import raw  # noqa: E402
from e2e import supervisor_harness as harness  # noqa: E402

from supervisor.core import labels as label  # noqa: E402
from supervisor.stack_settings import StackSettings  # noqa: E402

ROUNDS = 10
MODES = {"created": 27430, "paused": 27435}  # each supervisor's engine ports: 5 from there
RAW_PORT = 27429  # the raw containers, outside the supervisors' ranges
GOAL = 0.6
SETTLE_S = 0.3  # a quiet moment before each timed call


def raw_create(
    client: docker.DockerClient, settings: StackSettings, network: str, labels: dict[str, str], tag: str
) -> str:
    api = client.api
    config = raw.host_config(api, network, RAW_PORT)
    labelled = {**labels, label.HOST_HTTP_PORT: str(RAW_PORT)}
    image, style = settings.engine.image, settings.engine.port_style
    return raw.create_engine(api, image, style, network, f"{network}-raw-{tag}", labelled, config)


def standby_ready(client: httpx.Client) -> bool:
    return bool(client.get("/orchestrator/status").json()["standby"]["ready"] == 1)


def rounds(
    docker_client: docker.DockerClient,
    supervisors: dict[str, harness.SupervisorProcess],
    labels: dict[str, str],
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"raw": [], "start only": [], **{mode: [] for mode in supervisors}}
    api = docker_client.api
    settings, network = next(iter(supervisors.values())).settings, next(iter(supervisors.values())).network
    clients = {mode: supervisor.client(timeout=30) for mode, supervisor in supervisors.items()}

    def settle() -> None:
        """Every supervisor's standby in place and its background work done, so that nothing but the
        timed call runs on the daemon meanwhile."""
        for mode, client in clients.items():
            harness.wait_until(lambda client=client: standby_ready(client), 60, f"the {mode} standby", 0.05)
        time.sleep(SETTLE_S)

    try:
        for index in range(ROUNDS):
            settle()
            began = time.perf_counter()
            container_id = raw_create(docker_client, settings, network, labels, f"a{index}")
            api.start(container_id)
            times["raw"].append(time.perf_counter() - began)
            api.remove_container(container_id, force=True)

            container_id = raw_create(docker_client, settings, network, labels, f"b{index}")
            settle()
            began = time.perf_counter()
            api.start(container_id)
            times["start only"].append(time.perf_counter() - began)
            api.remove_container(container_id, force=True)

            for mode, client in clients.items():
                settle()
                began = time.perf_counter()
                answer = client.post("/provision/acestream", json={}, headers=harness.AUTH)
                times[mode].append(time.perf_counter() - began)
                answer.raise_for_status()
                engine = answer.json()["container_id"]
                client.delete(f"/engines/{engine}", headers=harness.AUTH).raise_for_status()
    finally:
        for client in clients.values():
            client.close()
    return times


def benchmark(client: docker.DockerClient, docker_host: str, workdir: Path) -> None:
    name = f"bench-standby-{uuid.uuid4().hex[:8]}"
    labels = {"ace.bench.project": name}
    network = harness.make_network(client, name, labels)
    supervisors = {}
    for mode, first_port in MODES.items():
        scratch = workdir / mode
        scratch.mkdir()
        replicas: dict[str, int | str] = {"standby": 1, "standby_mode": mode}
        settings = harness.stack_settings(
            scratch, f"{name}-{mode}", "standalone", first_port, ports=5, max_replicas=3, replicas=replicas
        )
        supervisors[mode] = harness.SupervisorProcess(
            settings, scratch, docker_host, project=name, network=network
        )
    try:
        for supervisor in supervisors.values():
            supervisor.port = harness.free_supervisor_port()  # after the other one took its port
            supervisor.start()
        times = rounds(client, supervisors, labels)
    finally:
        for supervisor in supervisors.values():
            supervisor.stop()
        for key in (label.COMPOSE_PROJECT, "ace.bench.project"):
            for container in client.containers.list(all=True, filters={"label": f"{key}={name}"}):
                container.remove(force=True)
        client.networks.get(network).remove()
    raw = statistics.median(times["raw"])
    print(f"a cold engine, {ROUNDS} interleaved rounds (medians):")
    print(f"  raw docker SDK create_container + start           {raw * 1000:7.1f} ms")
    start_only = statistics.median(times["start only"])
    print(f"  raw start of a created container                  {start_only * 1000:7.1f} ms")
    for mode in supervisors:
        median = statistics.median(times[mode])
        print(
            f"  POST /provision/acestream, standby_mode {mode:<8}  {median * 1000:7.1f} ms"
            f"  ratio to raw {median / raw:5.2f}  (goal <= {GOAL})"
        )
    print("  rounds, ms: " + ", ".join(times))
    for row in zip(*times.values(), strict=True):
        print("   " + "  ".join(f"{value * 1000:7.1f}" for value in row))


def main() -> None:
    with raw.bench_daemon() as (client, docker_host), tempfile.TemporaryDirectory() as scratch:
        benchmark(client, docker_host, Path(scratch))


if __name__ == "__main__":
    main()
