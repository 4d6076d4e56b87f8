"""`just bench-provision`: what the supervisor costs over raw Docker, and how fast it answers from memory.

1. On the private bench daemon (started with scripts/test-dockerd when it is not running, and stopped again
   afterwards in that case; images built or reused by tests/bench/images.py): create+start N engine
   stand-ins one after another with the raw docker SDK (create_container + start, the same image, ports,
   environment and labels the supervisor uses), remove them, then provision N one after another through
   `ace-supervisor serve` (POST /provision/acestream). Prints both medians and their ratio (goal <= 1.15),
   and the supervisor's RSS with N real engines.
2. `/orchestrator/status` and `/engines` latency with 500 engines in state: a supervisor process (the same
   app under uvicorn) on the in-memory fake runtime, whose 500 engine containers it adopts at start-up (no
   background loops: nothing but the API runs). Load: 200 closed-loop clients (4 processes x 50 keep-alive
   connections), then a fixed request rate (latency from each request's scheduled send time, so a stall
   is not hidden); /health, which reads no state, shows the HTTP stack's own floor under the same load.
   Each read route is measured without and with If-None-Match (the ETag of its answer: a poller that saw
   no change, answered 304), and each of those by clients that send no Accept-Encoding and by clients that
   send `Accept-Encoding: gzip` and inflate every gzip body, as Go's HTTP client (acexy's) does by default;
   ROUNDS times interleaved with /health; then each route's mean req/s as a share of /health's, next to
   issue 9's goal (>= 0.9), and the supervisor's CPU time per request (from /proc). Prints p50/p99,
   throughput and the process's RSS. The engines' ids are random-looking, as Docker's are (they weigh on
   what gzip saves). `--latency-only` runs this part alone (no Docker needed); `--port N` puts that
   supervisor on port N.

Benchmarks print figures; they never assert timings. Every container made here is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout, whatever the venv installed

import docker  # noqa: E402
import httpx  # noqa: E402
from bench import raw  # noqa: E402
from e2e import supervisor_harness as harness  # noqa: E402

from supervisor.core import labels as label  # noqa: E402
from supervisor.stack_settings import STANDALONE_CONTAINER_HTTP_PORT, StackSettings  # noqa: E402

N = 20
FIRST_PORT = 27200
STATE_ENGINES = 500
STATE_FIRST_PORT = 20000  # below the ephemeral range, as every engine range must be
CLIENTS = 200
WORKERS = 4
DURATION_S = 5.0
FIXED_RATE = 1000  # requests per second
READ_PATHS = ("/orchestrator/status", "/engines", "/engines?all=true")
ROUNDS = 3  # each read route is measured this many times, interleaved with /health
GOAL = 0.9  # issue 9: each read route at >= 0.9 x the req/s of /health
ENCODINGS = (None, "gzip")  # what the clients send in Accept-Encoding: nothing, or what Go's client sends


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- part 1: raw Docker against the supervisor -------------------------------------------------------


def raw_create_and_start(
    client: docker.DockerClient, settings: StackSettings, network: str, labels: dict[str, str]
) -> list[float]:
    api, seconds, made = client.api, [], []
    try:
        for index in range(N):
            port = FIRST_PORT + index
            config = raw.host_config(api, network, port)
            labelled = {**labels, label.HOST_HTTP_PORT: str(port)}
            started = time.perf_counter()
            container_id = raw.create_engine(
                api,
                settings.engine.image,
                settings.engine.port_style,
                network,
                f"{network}-raw-{port}",
                labelled,
                config,
            )
            api.start(container_id)
            seconds.append(time.perf_counter() - started)
            made.append(container_id)
    finally:
        for container_id in made:
            api.remove_container(container_id, force=True)
    return seconds


def supervisor_provisions(supervisor: harness.SupervisorProcess) -> tuple[list[float], float, float]:
    """Client-side seconds of each provision, the supervisor's RSS, and its own mean provision time (from
    its provision_duration histogram: the reservation, the Docker calls and the bookkeeping, no HTTP)."""
    seconds = []
    with supervisor.client(timeout=30) as client:
        made = []
        for _ in range(N):
            started = time.perf_counter()
            answer = client.post("/provision/acestream", json={}, headers=harness.AUTH)
            seconds.append(time.perf_counter() - started)
            answer.raise_for_status()
            made.append(answer.json()["container_id"])
        assert supervisor.process is not None
        rss = rss_mib(supervisor.process.pid)
        metrics = client.get("/metrics").text
        for container_id in made:
            client.delete(f"/engines/{container_id}", headers=harness.AUTH).raise_for_status()
    total, count = (
        float(re.search(rf"^ace_supervisor_provision_duration_seconds_{part} (\S+)$", metrics, re.M)[1])
        for part in ("sum", "count")
    )
    return seconds, rss, total / count


def provisioning_benchmark(client: docker.DockerClient, docker_host: str, workdir: Path) -> None:
    name = f"bench-provision-{uuid.uuid4().hex[:8]}"
    labels = {"ace.bench.project": name}
    settings = harness.stack_settings(workdir, name, "standalone", FIRST_PORT, ports=N, max_replicas=N)
    network = harness.make_network(client, name, labels)
    supervisor = harness.SupervisorProcess(settings, workdir, docker_host, project=name, network=network)
    try:
        raw = raw_create_and_start(client, settings, network, labels)
        with harness.running_supervisor(supervisor):
            through, rss, inside = supervisor_provisions(supervisor)
    finally:
        supervisor.stop()
        for container in client.containers.list(
            all=True, filters={"label": f"{label.COMPOSE_PROJECT}={name}"}
        ):
            container.remove(force=True)
        for container in client.containers.list(all=True, filters={"label": f"ace.bench.project={name}"}):
            container.remove(force=True)
        client.networks.get(network).remove()
    raw_median, supervisor_median = statistics.median(raw), statistics.median(through)
    print(f"create+start, {N} engine stand-ins one at a time (medians):")
    print(f"  raw docker SDK (create_container + start) {raw_median * 1000:7.1f} ms")
    print(f"  supervisor POST /provision/acestream      {supervisor_median * 1000:7.1f} ms")
    print(
        f"  ratio supervisor / raw                    {supervisor_median / raw_median:7.2f}  (goal <= 1.15)"
    )
    http = statistics.mean(through) - inside
    print(
        f"  of which HTTP and the API layer (mean)    {http * 1000:7.1f} ms  (the rest is the Docker calls)"
    )
    print(f"  supervisor RSS with {N} engines            {rss:7.1f} MiB")


# --- part 2: answers from memory with 500 engines in state -------------------------------------------


def serve_fake_state(port: int, workdir: str) -> None:
    """The child process: the supervisor app on the fake runtime, with STATE_ENGINES engines to adopt."""
    import uvicorn

    from supervisor.app import create_app
    from supervisor.runtime.fake import FakeRuntime
    from supervisor.settings import Config, EnvironmentSettings

    last = STATE_FIRST_PORT + STATE_ENGINES + 99
    settings = harness.stack_settings(
        Path(workdir), "bench-state", "standalone", STATE_FIRST_PORT, ports=last - STATE_FIRST_PORT + 1,
        max_replicas=STATE_ENGINES + 100,
    )  # fmt: skip
    runtime = FakeRuntime()
    for index in range(STATE_ENGINES):
        host_port = STATE_FIRST_PORT + index
        name = f"bench-state-engine-{host_port}"
        runtime.add(
            name,
            {
                **label.engine_selector(settings.stack),
                label.HOST_HTTP_PORT: str(host_port),
                label.HTTP_PORT: str(STANDALONE_CONTAINER_HTTP_PORT),
            },
            container_id=hashlib.sha256(name.encode()).hexdigest(),  # 64 hex digits that do not repeat
        )
    env = EnvironmentSettings.model_validate(
        {"db_path": Path(workdir) / "state.db", "project": "bench-state", "network": "bench-state"}
    )
    app = create_app(Config(settings, env, harness.API_KEY, {}), runtime, loops=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _get(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    path: str,
    etag: str | None = None,
    encoding: str | None = None,
) -> int:
    """One GET on a kept-alive connection; its status (200, or 304 when `etag` is sent and still current).
    With `encoding` (gzip) sent in Accept-Encoding, a gzip body is inflated, as Go's client does."""
    conditional = f"If-None-Match: {etag}\r\n" if etag else ""
    accepted = f"Accept-Encoding: {encoding}\r\n" if encoding else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{conditional}{accepted}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    if status not in ((200, 304) if etag else (200,)):
        raise RuntimeError(f"GET {path}: {head.splitlines()[0].decode()}")
    fields = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    body = await reader.readexactly(int(fields.get(b"content-length", 0)))
    if fields.get(b"content-encoding", b"").strip() == b"gzip":
        zlib.decompress(body, wbits=31)  # 31: a gzip stream
    return status


Variant = tuple[str, str | None, str | None]  # path, ETag sent in If-None-Match, Accept-Encoding sent


async def _closed_loop(
    port: int, variant: Variant, connections: int, duration: float
) -> tuple[list[float], int, int]:
    """Latencies after a 0.5 s warm-up, how many answers were 304, and how many requests in all."""
    latencies: list[float] = []
    unchanged = sent = 0
    path, etag, encoding = variant

    async def client() -> None:
        nonlocal unchanged, sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        warm_until = time.perf_counter() + 0.5
        deadline = warm_until + duration
        while (now := time.perf_counter()) < deadline:
            status = await _get(reader, writer, path, etag, encoding)
            sent += 1
            if now > warm_until:
                latencies.append(time.perf_counter() - now)
                unchanged += status == 304
        writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return latencies, unchanged, sent


def closed_loop_worker(
    port: int, variant: Variant, connections: int, duration: float
) -> tuple[list[float], int, int, float]:
    """One worker's latencies, 304s, requests, and the CPU time it spent on them."""
    started = time.process_time()
    latencies, unchanged, sent = asyncio.run(_closed_loop(port, variant, connections, duration))
    return latencies, unchanged, sent, time.process_time() - started


def closed_loop(port: int, variant: Variant, server_pid: int) -> tuple[list[float], int, float, float]:
    """CLIENTS closed-loop clients in WORKERS processes (so the load generator is not one event loop); the
    latencies, the 304s, and the CPU time per request of the server and of the clients (warm-up included):
    on shared cores, what the clients spend is taken from the server."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        arguments = [(port, variant, CLIENTS // WORKERS, DURATION_S)] * WORKERS
        cpu_before = cpu_seconds(server_pid)
        parts = pool.starmap(closed_loop_worker, arguments)
        cpu = cpu_seconds(server_pid) - cpu_before
    latencies = [value for part in parts for value in part[0]]
    sent = sum(part[2] for part in parts)
    return latencies, sum(part[1] for part in parts), cpu / sent, sum(part[3] for part in parts) / sent


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fixed_rate(
    port: int, path: str, rate: float, duration: float, connections: int, encoding: str | None = None
) -> list[float]:
    """Open loop: request i is due at start + i/rate; its latency counts from then, queueing included."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    start = time.perf_counter() + 0.1

    async def one(due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        reader, writer = await pool.get()
        await _get(reader, writer, path, encoding=encoding)
        latencies.append(time.perf_counter() - due)
        pool.put_nowait((reader, writer))

    await asyncio.gather(*(one(start + i / rate) for i in range(int(rate * duration))))
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies


def latency_benchmark(workdir: Path, port: int | None = None) -> None:
    """Each read route against /health in the same run, ROUNDS times interleaved (the floor moves with
    whatever else shares the cores), then the ratios of the mean rates next to the goal."""
    port = port or harness.free_supervisor_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake-state", str(port), str(workdir)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])},
    )
    try:
        harness.wait_until(lambda: _status_ok(port), 30, "the fake-state supervisor")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            engines = client.get("/engines").json()
            sizes, variants = [], []
            for encoding in ENCODINGS:
                asked = {"accept-encoding": encoding or "identity"}
                etags = {path: client.get(path, headers=asked).headers.get("etag") for path in READ_PATHS}
                with client.stream("GET", "/engines", headers=asked) as answer:
                    sizes.append(f"{len(b''.join(answer.iter_raw())) / 1000:.0f} kB {encoding or 'identity'}")
                variants += [("/health", None, encoding)] + [(path, None, encoding) for path in READ_PATHS]
                variants += [(path, etags[path], encoding) for path in READ_PATHS if etags[path]]
        print(f"\nanswers from memory, {len(engines)} engines in state (supervisor on the fake runtime),")
        print(f"/engines {', '.join(sizes)}; clients sending Accept-Encoding: gzip inflate each gzip body:")
        rates: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}  # the server's CPU time per request
        client_cpu: dict[str, list[float]] = {}  # the clients'
        for _ in range(ROUNDS):
            for variant in variants:
                latencies, unchanged, cost, client_cost = closed_loop(port, variant, server.pid)
                path, etag, encoding = variant
                what = f"{path}{' If-None-Match' if etag else ''}{', gzip' if encoding else ''}"
                rate = len(latencies) / DURATION_S
                rates.setdefault(what, []).append(rate)
                cpu.setdefault(what, []).append(cost)
                client_cpu.setdefault(what, []).append(client_cost)
                answers = f"{len(latencies)} requests" + (f", {unchanged} answered 304" if etag else "")
                _report(f"{what} {CLIENTS} closed-loop clients", latencies, rate, answers)
        floor = statistics.mean(rates["/health"] + rates["/health, gzip"])
        print(f"  mean req/s over {ROUNDS} rounds, as a share of /health's ({floor:.0f} req/s, both kinds of")
        print("  client), and the CPU time per request of the supervisor and of the clients:")
        for what, values in rates.items():
            share = statistics.mean(values) / floor
            goal = "" if what.startswith("/health") else f"  (goal >= {GOAL})"
            spent = f"server {statistics.mean(cpu[what]) * 1e6:4.0f} µs"
            spent += f", clients {statistics.mean(client_cpu[what]) * 1e6:4.0f} µs"
            print(f"    {what:<44} {statistics.mean(values):6.0f} req/s  {share:5.2f}  {spent}{goal}")
        for path, rate, encoding in (
            ("/orchestrator/status", FIXED_RATE, None),
            ("/engines", FIXED_RATE // 4, None),
            ("/engines", FIXED_RATE // 4, "gzip"),
        ):
            latencies = asyncio.run(fixed_rate(port, path, rate, DURATION_S, CLIENTS, encoding))
            what = f"{path}{', gzip' if encoding else ''} fixed {rate} req/s"
            _report(what, latencies, None, f"{len(latencies)} requests")
        rss = rss_mib(server.pid)
        print(f"  supervisor RSS with {STATE_ENGINES} engines in state, after the load: {rss:.1f} MiB")
    finally:
        server.terminate()
        server.wait(15)


def _status_ok(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/orchestrator/status", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _report(what: str, latencies: list[float], throughput: float | None, answers: str) -> None:
    figures = (
        f"p50 {percentile(latencies, 0.5) * 1000:7.2f} ms  p99 {percentile(latencies, 0.99) * 1000:7.2f} ms"
    )
    rate = f"  {throughput:6.0f} req/s" if throughput is not None else ""
    print(f"  {what:<58} {figures}{rate}  ({answers})")


# --- the daemon ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--latency-only", action="store_true", help="part 2 alone: no Docker needed")
    parser.add_argument("--port", type=int, help="the port of part 2's supervisor (default: a free one)")
    options = parser.parse_args()
    if options.latency_only:
        with tempfile.TemporaryDirectory() as scratch:
            latency_benchmark(Path(scratch), options.port)
        return
    with raw.bench_daemon() as (client, docker_host), tempfile.TemporaryDirectory() as scratch:
        provisioning_benchmark(client, docker_host, Path(scratch))
        latency_benchmark(Path(scratch), options.port)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-fake-state"]:
        serve_fake_state(int(sys.argv[2]), sys.argv[3])
    else:
        main()
