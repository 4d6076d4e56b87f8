"""`just bench-acquire`: what POST /engines/acquire costs, next to what it replaces, in one run.

On the private bench daemon (started when not running, stopped again afterwards in that case), with the
engine stand-in image and `ace-supervisor serve` on the host:

1. warm: acquires answered by an engine that is ready (goal p99 < 20 ms), next to raw GET /engines;
2. cold: an acquire that must create its engine, next to raw create + start + the engine's first answer
   through the docker SDK (goal: engine start time + < 50 ms); both poll the engine every 20 ms;
3. stats: one stream-check pass over 200 started streams on real stand-in engines, next to one stat_url
   call's latency (goal <= 3 x). The pass runs in this process (the supervisor's own StreamCheckLoop and
   HttpProbes) so it can be timed alone.

Benchmarks print figures; they never assert timings. Every container made here is removed at the end.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import docker  # noqa: E402
import httpx  # noqa: E402
from bench import images  # noqa: E402
from e2e import supervisor_harness as harness  # noqa: E402

from supervisor.core import labels as label  # noqa: E402
from supervisor.core.clock import SystemClock  # noqa: E402
from supervisor.core.environment import engine_environment  # noqa: E402
from supervisor.core.records import KeyType  # noqa: E402
from supervisor.probes import HttpProbes  # noqa: E402
from supervisor.runtime.fake import FakeRuntime  # noqa: E402
from supervisor.service import Supervisor  # noqa: E402
from supervisor.settings import Config, EnvironmentSettings  # noqa: E402
from supervisor.stack_settings import STANDALONE_CONTAINER_HTTP_PORT  # noqa: E402
from supervisor.streams import StreamStart  # noqa: E402

TEST_DOCKERD = ROOT / "scripts" / "test-dockerd"
FIRST_PORT = 27250  # 27250-27259: the supervisor's engines; 27260-27269: raw containers
WARM_ACQUIRES = 200
COLD_ROUNDS = 5
STREAMS = 200
POLL_S = 0.02


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def answers(port: int) -> bool:
    try:
        return httpx.get(
            f"http://127.0.0.1:{port}/webui/api/service?method=get_version", timeout=1
        ).is_success
    except httpx.HTTPError:
        return False


def raw_cold_starts(
    client: docker.DockerClient, settings: object, network: str, labels: dict[str, str]
) -> list[float]:
    """create + start + first answer, polled every POLL_S, as an acquire of a new key does."""
    api, seconds = client.api, []
    image = settings.engine.image  # type: ignore[attr-defined]
    style = settings.engine.port_style  # type: ignore[attr-defined]
    for index in range(COLD_ROUNDS):
        port = FIRST_PORT + 10 + index
        host_config = api.create_host_config(
            network_mode=network, port_bindings={STANDALONE_CONTAINER_HTTP_PORT: ("127.0.0.1", port)}
        )
        started = time.perf_counter()
        created = api.create_container(
            image,
            name=f"{network}-raw-{port}",
            environment=engine_environment(style, 6878, 6879, 8621),
            labels=labels,
            host_config=host_config,
            ports=[STANDALONE_CONTAINER_HTTP_PORT],
            networking_config={"EndpointsConfig": {network: {}}},
        )
        api.start(created["Id"])
        while not answers(port):
            time.sleep(POLL_S)
        seconds.append(time.perf_counter() - started)
        api.remove_container(created["Id"], force=True)
    return seconds


def acquire(client: httpx.Client, key: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    answer = client.post(
        "/engines/acquire", json={"key_type": "content_id", "key": key, "timeout_s": 30}, headers=harness.AUTH
    )
    took = time.perf_counter() - started
    answer.raise_for_status()
    body: dict[str, object] = answer.json()
    return took, body


def through_the_supervisor(
    supervisor: harness.SupervisorProcess,
) -> tuple[list[float], list[float], list[float]]:
    """(cold acquires, warm acquires, GET /engines) client-side seconds."""
    with supervisor.client(timeout=60) as client:
        cold = []
        for round_ in range(COLD_ROUNDS):
            took, body = acquire(client, f"cold-{round_}")
            assert body["reused"] is False, body
            cold.append(took)
            client.delete(f"/engines/{body['container_id']}", headers=harness.AUTH).raise_for_status()
        acquire(client, "warm-up")  # one ready engine; every acquire below is answered by it
        warm = [acquire(client, f"warm-{n}")[0] for n in range(WARM_ACQUIRES)]
        engines = []
        for _ in range(WARM_ACQUIRES):
            started = time.perf_counter()
            client.get("/engines").raise_for_status()
            engines.append(time.perf_counter() - started)
    return cold, warm, engines


async def stats_pass(port: int, workdir: Path) -> tuple[float, float, int]:
    """(one pass over STREAMS streams, one stat_url call: medians in seconds, samples collected)."""
    sessions = [
        httpx.get(
            f"http://127.0.0.1:{port}/ace/getstream", params={"content_id": f"c{n}", "format": "json"}
        ).json()["response"]
        for n in range(STREAMS)
    ]
    settings = harness.stack_settings(workdir, "bench-stats", "standalone", port, ports=1, max_replicas=1)
    settings = settings.model_copy(
        update={"replicas": settings.replicas.model_copy(update={"max_streams_per_engine": STREAMS})}
    )
    settings_file = workdir / "stats-settings.json"
    settings_file.write_text(settings.model_dump_json())
    env = EnvironmentSettings.model_validate(
        {
            "settings": settings_file,
            "db_path": workdir / "stats.db",
            "project": "bench-stats",
            "probe_host": "127.0.0.1",
        }
    )
    runtime = FakeRuntime()  # holds one engine whose published port is the real stand-in's
    runtime.add(
        "bench-stats-engine",
        {**label.engine_selector("bench-stats"), label.HOST_HTTP_PORT: str(port)},
    )
    probes = HttpProbes()
    supervisor = Supervisor(Config(settings, env, harness.API_KEY, {}), runtime, SystemClock(), probes)
    await supervisor.start(loops=False)
    try:
        (engine,) = supervisor.state.engines.values()
        for n, session in enumerate(sessions):
            supervisor.streams.start(
                StreamStart(
                    engine.container_id, "127.0.0.1", port, KeyType.content_id, f"c{n}",
                    session["playback_session_id"], session["stat_url"], session["command_url"], True, None,
                )
            )  # fmt: skip
        one = []
        for session in sessions[:50]:
            started = time.perf_counter()
            await probes.stream_stat(session["stat_url"])
            one.append(time.perf_counter() - started)
        passes = []
        for _ in range(5):
            started = time.perf_counter()
            await supervisor.stream_check.tick()
            passes.append(time.perf_counter() - started)
        collected = sum(len(supervisor.streams.stat_history(s.id)) for s in supervisor.streams.active())
    finally:
        await supervisor.stop()
    return statistics.median(passes), statistics.median(one), collected


def run(client: docker.DockerClient, docker_host: str, workdir: Path) -> None:
    name = f"bench-acquire-{uuid.uuid4().hex[:8]}"
    labels = {"ace.bench.project": name}
    settings = harness.stack_settings(
        workdir, name, "standalone", FIRST_PORT, replicas={"max_streams_per_engine": 300}
    )
    network = harness.make_network(client, name, labels)
    supervisor = harness.SupervisorProcess(
        settings,
        workdir,
        docker_host,
        project=name,
        network=network,
        extra_env={"ACE_SUPERVISOR_READINESS_INTERVAL_S": str(POLL_S)},
    )
    try:
        raw = raw_cold_starts(client, settings, network, labels)
        with harness.running_supervisor(supervisor):
            cold, warm, engines = through_the_supervisor(supervisor)
            stand_in = next(iter(harness.engine_containers(client, supervisor.settings)))
            (port,) = harness.published_host_ports(stand_in)
            one_pass, one_call, collected = asyncio.run(stats_pass(port, workdir))
    finally:
        supervisor.stop()
        for selector in (f"{label.COMPOSE_PROJECT}={name}", f"ace.bench.project={name}"):
            for container in client.containers.list(all=True, filters={"label": selector}):
                container.remove(force=True)
        client.networks.get(network).remove()
        for volume in client.volumes.list(filters={"label": f"{label.COMPOSE_PROJECT}={name}"}):
            volume.remove(force=True)
    print(f"warm acquire ({WARM_ACQUIRES} sequential, a ready engine with room):")
    print(
        f"  POST /engines/acquire  p50 {ms(percentile(warm, 0.5))}  p99 {ms(percentile(warm, 0.99))}"
        "  (goal p99 < 20 ms)"
    )
    print(f"  GET /engines           p50 {ms(percentile(engines, 0.5))}  p99 {ms(percentile(engines, 0.99))}")
    raw_median, cold_median = statistics.median(raw), statistics.median(cold)
    print(
        f"cold acquire ({COLD_ROUNDS} rounds, a new engine each;"
        f" both poll the engine every {POLL_S * 1000:.0f} ms):"
    )
    print(f"  raw create + start + first answer   median {ms(raw_median)}")
    print(f"  POST /engines/acquire (new engine)  median {ms(cold_median)}")
    print(f"  acquire over the engine start       {ms(cold_median - raw_median)}  (goal < 50 ms)")
    print(f"stats collection ({STREAMS} started streams on a real stand-in engine):")
    print(f"  one stat_url call            median {ms(one_call)}")
    print(f"  one stream-check pass        median {ms(one_pass)}  ({collected} samples kept)")
    print(f"  ratio pass / one call        {one_pass / one_call:7.2f}  (goal <= 3)")


def main() -> None:
    started_daemon = subprocess.run([str(TEST_DOCKERD), "status"], capture_output=True).returncode != 0
    host = subprocess.run([str(TEST_DOCKERD), "start"], capture_output=True, text=True, check=True)
    docker_host = host.stdout.strip().splitlines()[-1]
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=600)
        images.ensure_all(client)
        with tempfile.TemporaryDirectory() as scratch:
            run(client, docker_host, Path(scratch))
        client.close()
    finally:
        if started_daemon:
            subprocess.run([str(TEST_DOCKERD), "stop"], capture_output=True, check=False)


if __name__ == "__main__":
    main()
