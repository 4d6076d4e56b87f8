"""`just bench-acquire`: what POST /engines/acquire costs, next to what it replaces, in one run.

On the private bench daemon (started when not running, stopped again afterwards in that case), with the
engine stand-in image and `ace-supervisor serve` on the host:

1. warm: acquires answered by an engine that is ready (goal p99 < 20 ms), next to raw GET /engines;
2. cold: an acquire that must create its engine, next to raw create + start + the engine's first answer
   through the docker SDK (goal: engine start time + < 50 ms); both poll the engine every 20 ms;
3. stats: one stream-check pass over 200 started streams on real stand-in engines, next to one stat_url
   call's latency (goal <= 3 x): spread over 10 engines x 20 streams (as max_streams_per_engine spreads
   them), and, for comparison with the first figure, all 200 on one engine (each its own stand-in
   container). One call is timed the same
   way, on a kept connection (warm) and on a new one (cold); the spread pass also with the engines
   answering 20 ms late (the stand-in's `slow` fault), where a call's latency is the engine's wait, not
   CPU. The pass runs in this process (the supervisor's own StreamCheckLoop and HttpProbes) so it can be
   timed alone.

`--first-port N` (default 27250): the supervisor's engines take N..N+9, the raw containers N+10..N+14, the
spread engines N+20..N+29 and the one-engine run's N+30, all on 127.0.0.1. `--stats-only`: part 3 alone.

Benchmarks print figures; they never assert timings. Every container made here is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import docker  # noqa: E402
import httpx  # noqa: E402
from bench import raw  # noqa: E402
from e2e import supervisor_harness as harness  # noqa: E402

from supervisor.core import labels as label  # noqa: E402
from supervisor.core.clock import SystemClock  # noqa: E402
from supervisor.core.environment import engine_environment  # noqa: E402
from supervisor.core.records import KeyType  # noqa: E402
from supervisor.http_get import PER_ADDRESS  # noqa: E402
from supervisor.loops.stream_check import CONCURRENCY  # noqa: E402
from supervisor.probes import HttpProbes  # noqa: E402
from supervisor.runtime.fake import FakeRuntime  # noqa: E402
from supervisor.service import Supervisor  # noqa: E402
from supervisor.settings import Config, EnvironmentSettings  # noqa: E402
from supervisor.stack_settings import STANDALONE_CONTAINER_HTTP_PORT  # noqa: E402
from supervisor.streams import StreamStart  # noqa: E402

FIRST_PORT = 27250  # +0..+9: the supervisor's engines; +10..+14: raw containers; +20..+29: spread engines
WARM_ACQUIRES = 200
COLD_ROUNDS = 5
STREAMS = 200
SPREAD_ENGINES = 10  # 10 engines x 20 streams
PASSES = 7
SLOW_S = 0.02  # the engines' answer delay in the slow run
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
    client: docker.DockerClient, settings: object, network: str, labels: dict[str, str], first_port: int
) -> list[float]:
    """create + start + first answer, polled every POLL_S, as an acquire of a new key does."""
    api, seconds = client.api, []
    image = settings.engine.image  # type: ignore[attr-defined]
    style = settings.engine.port_style  # type: ignore[attr-defined]
    for index in range(COLD_ROUNDS):
        port = first_port + 10 + index
        config = raw.host_config(api, network, port, restart=False)
        started = time.perf_counter()
        container_id = raw.create_engine(api, image, style, network, f"{network}-raw-{port}", labels, config)
        api.start(container_id)
        while not answers(port):
            time.sleep(POLL_S)
        seconds.append(time.perf_counter() - started)
        api.remove_container(container_id, force=True)
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


@dataclass
class StatsFigures:
    engines: int
    per_engine: int
    warm_call: float  # medians, seconds
    cold_call: float
    first_pass: float  # the first pass (every connection opened in it)
    one_pass: float  # median of the passes that follow (on kept connections)
    pass_cpu: float  # the event-loop thread's CPU time in such a pass (median)
    collected: int
    slow_call: float | None = None
    slow_pass: float | None = None


def open_sessions(port: int, count: int, prefix: str) -> list[dict[str, object]]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as engine:
        return [
            engine.get("/ace/getstream", params={"content_id": f"{prefix}{n}", "format": "json"}).json()[
                "response"
            ]
            for n in range(count)
        ]


def set_fault(port: int, mode: str, delay_s: float = 0.0) -> None:
    httpx.post(
        f"http://127.0.0.1:{port}/_standin/fault", json={"mode": mode, "delay_s": delay_s}
    ).raise_for_status()


async def one_call_medians(probes: HttpProbes, urls: list[str]) -> tuple[float, float]:
    """(warm, cold) medians of one stat_url call: on the connection the previous call kept, and on a new
    one (a client of its own, made before the clock starts)."""
    await probes.stream_stat(urls[0])
    warm = []
    for url in itertools.islice(itertools.cycle(urls), 50):
        started = time.perf_counter()
        await probes.stream_stat(url)
        warm.append(time.perf_counter() - started)
    cold = []
    for url in itertools.islice(itertools.cycle(urls), 20):
        fresh = HttpProbes()
        started = time.perf_counter()
        await fresh.stream_stat(url)
        cold.append(time.perf_counter() - started)
        await fresh.close()
    return statistics.median(warm), statistics.median(cold)


async def stats_pass(ports: list[int], per_engine: int, workdir: Path, slow: bool = False) -> StatsFigures:
    """One stream-check pass over len(ports) x per_engine started streams, each engine's on its own
    stand-in, next to one stat_url call."""
    name = f"bench-stats-{len(ports)}"
    sessions = {port: open_sessions(port, per_engine, f"p{port}-") for port in ports}
    settings = harness.stack_settings(
        workdir, name, "standalone", ports[0], ports=len(ports), max_replicas=len(ports)
    )
    settings = settings.model_copy(
        update={"replicas": settings.replicas.model_copy(update={"max_streams_per_engine": per_engine})}
    )
    settings_file = workdir / f"{name}-settings.json"
    settings_file.write_text(settings.model_dump_json())
    env = EnvironmentSettings.model_validate(
        {
            "settings": settings_file,
            "db_path": workdir / f"{name}.db",
            "project": name,
            "probe_host": "127.0.0.1",
        }
    )
    runtime = FakeRuntime()  # holds one engine per stand-in, published on the stand-in's real port
    for port in ports:
        runtime.add(f"{name}-engine-{port}", {**label.engine_selector(name), label.HOST_HTTP_PORT: str(port)})
    probes = HttpProbes()
    supervisor = Supervisor(Config(settings, env, harness.API_KEY, {}), runtime, SystemClock(), probes)
    await supervisor.start(loops=False)
    try:
        by_port = {engine.host_http_port: engine for engine in supervisor.state.engines.values()}
        for port in ports:
            engine = by_port[port]
            for n, session in enumerate(sessions[port]):
                ids = (str(session[key]) for key in ("playback_session_id", "stat_url", "command_url"))
                supervisor.streams.start(
                    StreamStart(
                        engine.container_id, "127.0.0.1", port, KeyType.content_id, f"p{port}-{n}",
                        *ids, True, None,
                    )
                )  # fmt: skip
        urls = [str(session["stat_url"]) for port in ports for session in sessions[port]]
        started = time.perf_counter()
        await supervisor.stream_check.tick()
        first_pass = time.perf_counter() - started
        warm, cold = await one_call_medians(probes, urls[::per_engine])  # one engine after the other
        passes, cpu = [], []
        for _ in range(PASSES):
            started, cpu_started = time.perf_counter(), time.thread_time()
            await supervisor.stream_check.tick()
            passes.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - cpu_started)
        collected = sum(len(supervisor.streams.stat_history(s.id)) for s in supervisor.streams.active())
        figures = StatsFigures(
            len(ports),
            per_engine,
            warm,
            cold,
            first_pass,
            statistics.median(passes),
            statistics.median(cpu),
            collected,
        )
        if slow:
            for port in ports:
                set_fault(port, "slow", SLOW_S)
            try:
                figures.slow_call, _ = await one_call_medians(probes, urls[::per_engine])
                slow_passes = []
                for _ in range(3):
                    started = time.perf_counter()
                    await supervisor.stream_check.tick()
                    slow_passes.append(time.perf_counter() - started)
                figures.slow_pass = statistics.median(slow_passes)
            finally:
                for port in ports:
                    set_fault(port, "none")
    finally:
        await supervisor.stop()
    return figures


def start_stand_ins(
    client: docker.DockerClient, settings: object, network: str, labels: dict[str, str], ports: list[int]
) -> None:
    """Engine stand-ins on the bench network, each publishing its HTTP port on 127.0.0.1."""
    image = settings.engine.image  # type: ignore[attr-defined]
    style = settings.engine.port_style  # type: ignore[attr-defined]
    for port in ports:
        client.containers.run(
            image,
            name=f"{network}-stats-{port}",
            detach=True,
            environment=engine_environment(style, 6878, 6879, 8621),
            labels=labels,
            network=network,
            ports={STANDALONE_CONTAINER_HTTP_PORT: ("127.0.0.1", port)},
        )
    for port in ports:
        deadline = time.monotonic() + 30
        while not answers(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stand-in on {port} never answered")
            time.sleep(POLL_S)


def print_stats(figures: StatsFigures) -> None:
    print(
        f"stats collection ({figures.engines * figures.per_engine} started streams,"
        f" {figures.engines} engine(s) x {figures.per_engine}):"
    )
    print(f"  one stat_url call, kept connection   median {ms(figures.warm_call)}")
    print(f"  one stat_url call, new connection    median {ms(figures.cold_call)}")
    print(f"  first pass (connections opened)             {ms(figures.first_pass)}")
    print(
        f"  one stream-check pass, kept connections  median {ms(figures.one_pass)}"
        f"  ({figures.collected} samples kept)"
    )
    print(f"    of which the event loop's own CPU          median {ms(figures.pass_cpu)}")
    print(
        f"  ratio pass / one call                  warm {figures.one_pass / figures.warm_call:7.1f}"
        f"   cold {figures.one_pass / figures.cold_call:7.1f}  (goal <= 3)"
    )
    if figures.slow_call is not None and figures.slow_pass is not None:
        ratio = figures.slow_pass / figures.slow_call
        print(f"  engines answering {SLOW_S * 1000:.0f} ms late: one call median {ms(figures.slow_call)},")
        print(f"    a pass median {ms(figures.slow_pass)}, ratio {ratio:5.2f}")


def run(
    client: docker.DockerClient, docker_host: str, workdir: Path, first_port: int, stats_only: bool
) -> None:
    name = f"bench-acquire-{uuid.uuid4().hex[:8]}"
    labels = {"ace.bench.project": name}
    settings = harness.stack_settings(
        workdir, name, "standalone", first_port, replicas={"max_streams_per_engine": 300}
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
        if not stats_only:
            raw = raw_cold_starts(client, settings, network, labels, first_port)
            with harness.running_supervisor(supervisor):
                cold, warm, engines = through_the_supervisor(supervisor)
        spread_ports = [first_port + 20 + n for n in range(SPREAD_ENGINES)]
        single_port = first_port + 30
        start_stand_ins(client, settings, network, labels, [*spread_ports, single_port])
        load = os.getloadavg()[0]
        spread = asyncio.run(stats_pass(spread_ports, STREAMS // SPREAD_ENGINES, workdir, slow=True))
        single = asyncio.run(stats_pass([single_port], STREAMS, workdir))
    finally:
        supervisor.stop()
        for selector in (f"{label.COMPOSE_PROJECT}={name}", f"ace.bench.project={name}"):
            for container in client.containers.list(all=True, filters={"label": selector}):
                container.remove(force=True)
        client.networks.get(network).remove()
        for volume in client.volumes.list(filters={"label": f"{label.COMPOSE_PROJECT}={name}"}):
            volume.remove(force=True)
    if not stats_only:
        print_acquires(warm, engines, raw, cold)
    print(
        f"(at most {CONCURRENCY} stat URLs in flight, {PER_ADDRESS} per engine;"
        f" load average {load:.1f} before the spread run)"
    )
    print_stats(spread)
    print_stats(single)


def print_acquires(warm: list[float], engines: list[float], raw: list[float], cold: list[float]) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-port", type=int, default=FIRST_PORT, help="the first of 31 host ports used")
    parser.add_argument("--stats-only", action="store_true", help="only the stats collection part")
    arguments = parser.parse_args()
    with raw.bench_daemon() as (client, docker_host), tempfile.TemporaryDirectory() as scratch:
        run(client, docker_host, Path(scratch), arguments.first_port, arguments.stats_only)


if __name__ == "__main__":
    main()
