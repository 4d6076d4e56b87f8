"""`just bench-api`: does the reconciler starve the API? (issue #8)

Goal: with 500 engines and every loop running, `/orchestrator/status` at a fixed 200 req/s keeps a p99
under 10 ms, and a full health pass over the 500 engines costs under 250 ms of event-loop time.

Three kinds of process, so that neither the engines' CPU nor the load's counts against the supervisor:

1. Engine stand-ins: one asyncio process listening on 500 ports of 127.0.0.1 (the first range below 32768
   that is free, from 28000 down, checked as Docker binds, with SO_REUSEADDR), answering
   `/webui/api/service?method=get_version` as an engine does, over keep-alive HTTP/1.1.
2. The supervisor: the app (`create_app`) under uvicorn on the in-memory fake runtime, which holds 500
   engine containers for it to adopt, published on the stand-ins' ports and probed there
   (ACE_SUPERVISOR_PROBE_HOST=127.0.0.1). Every loop runs every `--interval` seconds (default 1 s: the
   shortest interval any loop ships with, readiness's; the issue measured a 1 s health sweep; the
   shipped health default is 20 s). Measured inside that process, from outside the app: the event-loop
   thread's CPU time (`time.thread_time`) from the start to the end of each loop's tick, and loop lag
   (a task sleeping 5 ms, recording how late it wakes and the thread's CPU time meanwhile: a late wake-up
   with little CPU spent is the process waiting for a core, i.e. other programs on the machine).
3. The load: one process sending GET /orchestrator/status on a fixed schedule, 200 per second for 20 s
   over 50 keep-alive connections (open loop: each latency counts from the request's scheduled send
   time, so a stall is not hidden by requests that were never sent).

Two runs: the loops off (the API's own floor), then the loops on: first 5 s (at least 1.5 intervals) with
no load (the cost of a health pass, nothing else on the loop but the other loops' ticks), then the load.
Benchmarks print figures; they never assert timings.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "tests", ROOT / "scripts"):
    sys.path.insert(0, str(folder))

import httpx  # noqa: E402
from bench.host_ports import busy  # noqa: E402
from bench_provision import fixed_rate, percentile  # noqa: E402
from e2e import supervisor_harness as harness  # noqa: E402

ENGINES = 500
RANGE_STARTS = (28000, 27000, 26000, 25000, 24000, 23000, 22000)  # below Linux's ephemeral 32768-60999
RATE = 200  # requests per second
DURATION_S = 20.0
CONNECTIONS = 50
QUIET_S = 5.0
LAG_PERIOD_S = 0.005
STALL_S = 0.01
GOAL_P99_MS = 10.0
GOAL_PASS_MS = 250.0
LOOPS = ("health", "readiness", "vpn", "reconciler", "autoscale")  # those this supervisor has are timed
VERSION_BODY = b'{"result":{"version":"3.2.3","code":3020300},"error":null}'


# --- 1. the engine stand-ins -----------------------------------------------------------------------


class EngineStandIn(asyncio.Protocol):
    """Answers every request on its connection with get_version (the only thing probes ask)."""

    ANSWER = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(VERSION_BODY)
        + VERSION_BODY
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.pending = transport, b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        while (end := self.pending.find(b"\r\n\r\n")) >= 0:
            self.pending = self.pending[end + 4 :]
            self.transport.write(self.ANSWER)


async def serve_standins(first_port: int) -> None:
    loop = asyncio.get_running_loop()
    for port in range(first_port, first_port + ENGINES):
        await loop.create_server(EngineStandIn, "127.0.0.1", port, reuse_address=True, backlog=64)
    print("ready", flush=True)
    await asyncio.Event().wait()


def free_range() -> int:
    for first in RANGE_STARTS:
        if not busy(list(range(first, first + ENGINES))):
            return first
    raise SystemExit(f"no free range of {ENGINES} ports at {RANGE_STARTS}; free one and retry")


# --- 2. the supervisor, instrumented ---------------------------------------------------------------


def serve_supervisor(port: int, workdir: str, first_port: int, interval: float | None, stats: str) -> None:
    import uvicorn

    from supervisor.app import create_app
    from supervisor.core import labels as label
    from supervisor.runtime.fake import FakeRuntime
    from supervisor.settings import Config, EnvironmentSettings
    from supervisor.stack_settings import STANDALONE_CONTAINER_HTTP_PORT

    settings = harness.stack_settings(
        Path(workdir), "bench-api", "standalone", first_port, ports=ENGINES, max_replicas=ENGINES
    )
    every = interval or 1.0  # the loops do not run when interval is None
    loop_intervals = ("health_check_interval_s", "autoscale_interval_s", "vpn_check_interval_s")
    timings = settings.timings.model_copy(update=dict.fromkeys(loop_intervals, every))
    replicas = settings.replicas.model_copy(update={"min": ENGINES})  # keep every idle engine
    settings = settings.model_copy(update={"timings": timings, "replicas": replicas})
    runtime = FakeRuntime()
    for index in range(ENGINES):
        host_port = first_port + index
        runtime.add(
            f"bench-api-engine-{host_port}",
            {
                **label.engine_selector(settings.stack),
                label.HOST_HTTP_PORT: str(host_port),
                label.HTTP_PORT: str(STANDALONE_CONTAINER_HTTP_PORT),
            },
        )
    env = EnvironmentSettings.model_validate(
        {
            "db_path": Path(workdir) / f"state-{port}.db",
            "project": "bench-api",
            "network": None,
            "probe_host": "127.0.0.1",
            "readiness_interval_s": every,
        }
    )
    app = create_app(Config(settings, env, harness.API_KEY, {}), runtime, loops=interval is not None)
    supervisor = app.state["supervisor"]
    ticks: list[tuple[str, float, float, float]] = []  # loop, wall start, wall seconds, loop-thread CPU
    lags: list[tuple[float, float, float]] = []  # wall time, seconds late, loop-thread CPU meanwhile

    def timed(name: str, tick: Any) -> Any:
        async def run() -> None:
            wall, started, cpu = time.time(), time.perf_counter(), time.thread_time()
            try:
                await tick()
            finally:
                ticks.append((name, wall, time.perf_counter() - started, time.thread_time() - cpu))

        return run

    for name in LOOPS:
        if (loop_object := getattr(supervisor, name, None)) is not None:
            loop_object.tick = timed(name, loop_object.tick)

    async def sample_lag() -> None:
        while True:
            started, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(LAG_PERIOD_S)
            late = time.perf_counter() - started - LAG_PERIOD_S
            lags.append((time.time(), late, time.thread_time() - cpu))

    start = supervisor.start

    async def start_and_sample(loops: bool = True) -> None:
        await start(loops)
        supervisor._tasks.append(asyncio.create_task(sample_lag(), name="bench-lag"))

    stop = supervisor.stop

    async def stop_and_write() -> None:  # uvicorn re-raises SIGTERM once shut down: write before
        await stop()
        Path(stats).write_text(json.dumps({"ticks": ticks, "lags": lags}))

    supervisor.start, supervisor.stop = start_and_sample, stop_and_write
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- 3. the load, and the runs ---------------------------------------------------------------------


def load_worker(port: int) -> tuple[float, list[float]]:
    """When the first request is due (fixed_rate opens its connections, then starts 0.1 s later: the
    connections' set-up is not load), and the latencies."""
    first_due = time.time() + 0.1
    return first_due, asyncio.run(fixed_rate(port, "/orchestrator/status", RATE, DURATION_S, CONNECTIONS))


def healthy_engines(port: int) -> int:
    try:
        engines = httpx.get(f"http://127.0.0.1:{port}/engines", params={"all": "true"}, timeout=5).json()
    except httpx.HTTPError:
        return -1
    return sum(engine["health_status"] == "healthy" for engine in engines)


def run(workdir: Path, first_port: int, interval: float | None) -> dict[str, Any]:
    port = harness.free_supervisor_port()
    stats = workdir / f"stats-{port}.json"
    arguments = [str(port), str(workdir), str(first_port), str(interval or 0), str(stats)]
    server = subprocess.Popen([sys.executable, __file__, "--serve-supervisor", *arguments])
    try:
        harness.wait_until(lambda: healthy_engines(port) >= 0, 60, "the supervisor")
        if interval is not None:
            harness.wait_until(lambda: healthy_engines(port) == ENGINES, 60, f"{ENGINES} healthy engines")
        quiet = time.time()
        time.sleep(max(QUIET_S, 1.5 * interval) if interval is not None else 0)  # a pass or more
        quiet_ended = time.time()
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            loaded, latencies = pool.apply(load_worker, (port,))
        ended = time.time()
    finally:
        server.terminate()
        server.wait(30)
    measured = json.loads(stats.read_text())
    return {"latencies": latencies, "quiet": (quiet, quiet_ended), "load": (loaded, ended), **measured}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def latency_line(what: str, latencies: list[float]) -> str:
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return (
        f"  {what:<31} p50 {_ms(p50)}  p99 {_ms(p99)}  max {_ms(max(latencies))}  ({len(latencies)} requests)"
    )


def ticks_in(result: dict[str, Any], name: str, window: str) -> list[tuple[float, float]]:
    """(wall seconds, loop-thread CPU seconds) of the ticks of loop `name` that started in the window."""
    begin, end = result[window]
    return [(wall, cpu) for loop, at, wall, cpu in result["ticks"] if loop == name and begin <= at < end]


def report(first_port: int, interval: float, floor: dict[str, Any], loaded: dict[str, Any]) -> None:
    print(
        f"{ENGINES} engines (stand-ins on 127.0.0.1:{first_port}-{first_port + ENGINES - 1}), "
        f"GET /orchestrator/status at a fixed {RATE} req/s for {DURATION_S:g} s:"
    )
    print(latency_line("loops off (the API's floor)", floor["latencies"]))
    print(latency_line(f"every loop every {interval:g} s", loaded["latencies"]))
    begin, end = loaded["load"]
    begin += 0.5  # uvicorn accepts the load's 50 connections as it starts: some 50 ms of CPU, once
    lags = [(late, cpu) for when, late, cpu in loaded["lags"] if begin <= when < end]
    lag = [late for late, _ in lags]
    print(f"  loop lag meanwhile (a {LAG_PERIOD_S * 1000:g} ms sleep wakes late by)", end="")
    print(f" p99 {_ms(percentile(lag, 0.99))}  max {_ms(max(lag))}")
    # A late wake-up with little CPU spent meanwhile is the process waiting for a core (other programs
    # on the machine), not the supervisor's own work.
    stalls = [(late, cpu) for late, cpu in lags if late > STALL_S]
    busy = sum(cpu >= late / 2 for late, cpu in stalls)
    print(
        f"  wake-ups later than {STALL_S * 1000:g} ms: {len(stalls)}, of which {busy} with the loop busy"
        f" (its thread CPU meanwhile at least half the delay), {len(stalls) - busy} waiting for a core"
    )
    print("event-loop thread CPU per tick (time.thread_time from the tick's start to its end; it includes")
    print("whatever else the loop ran meanwhile: other loops' ticks, and the requests under load):")
    for name, window in itertools.product(LOOPS, ("quiet", "load")):
        if ticks := ticks_in(loaded, name, window):
            cpu, wall = [tick[1] for tick in ticks], [tick[0] for tick in ticks]
            print(
                f"  {name:<10} {'no load' if window == 'quiet' else 'under load':<10}"
                f" median {_ms(statistics.median(cpu))}  max {_ms(max(cpu))}"
                f"  lasting {_ms(statistics.median(wall))}  ({len(ticks)} ticks)"
            )
    p99 = percentile(loaded["latencies"], 0.99)
    health_pass = statistics.median(cpu for _, cpu in ticks_in(loaded, "health", "quiet") or [(0, 0)])
    print("against the goals:")
    for what, figure, goal in (
        ("status p99 with every loop running", p99, GOAL_P99_MS),
        (f"a health pass over {ENGINES} engines (median)", health_pass, GOAL_PASS_MS),
    ):
        print(f"  {what:<42} {_ms(figure)}  goal < {goal:g} ms  ratio {figure * 1000 / goal:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0, help="every loop's interval, seconds")
    interval = parser.parse_args().interval
    first_port = free_range()
    standins = subprocess.Popen(
        [sys.executable, __file__, "--serve-standins", str(first_port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert standins.stdout is not None and standins.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory() as scratch:
            floor = run(Path(scratch), first_port, None)
            loaded = run(Path(scratch), first_port, interval)
    finally:
        standins.terminate()
        standins.wait(15)
    report(first_port, interval, floor, loaded)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-standins"]:
        asyncio.run(serve_standins(int(sys.argv[2])))
    elif sys.argv[1:2] == ["--serve-supervisor"]:
        port, workdir, first, every, stats = sys.argv[2:7]
        serve_supervisor(int(port), workdir, int(first), float(every) or None, stats)
    else:
        main()
