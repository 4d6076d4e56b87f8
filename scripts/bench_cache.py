"""`just bench-cache`: what Docker's disk-use query costs, to choose `timings.cache_check_interval_s`.

On the private bench daemon (running already; images built or reused by tests/bench/images.py): N engine
stand-ins, each with a cache written into its container's writable layer (FILES files of FILE_BYTES each,
two shapes: a few big piece files, and many small ones, which is what makes Docker's walk slow). Then,
ROUNDS times each, interleaved:

- `GET /containers/json?all=1&filters=<labels>`: the reconciler's listing, without sizes (the floor);
- the same with `size=1`: one call that measures every engine of the stack (what the cache pass does);
- `GET /containers/{id}/json?size=1` for each engine, one after another (the per-engine alternative).

Prints the median and max of each, per shape. Benchmarks print figures; they never assert timings.
Every container made here is removed at the end. Run it under the bench lock:
`flock /tmp/ace-docker.lock just bench-cache`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout, whatever the venv installed

import docker  # noqa: E402
from bench import images  # noqa: E402

N = 10  # the shipped replicas.max
ROUNDS = 7
SHAPES = (("200 x 1 MiB", 200, 1 << 20), ("5000 x 4 KiB", 5000, 4 << 10), ("20000 x 4 KiB", 20000, 4 << 10))
WRITE = (
    "import os, sys\n"
    "count, size = int(sys.argv[1]), int(sys.argv[2])\n"
    "os.makedirs('/root/.ACEStream/.acestream_cache', exist_ok=True)\n"
    "block = os.urandom(size)\n"
    "for i in range(count):\n"
    "    with open(f'/root/.ACEStream/.acestream_cache/piece-{i:06d}.bin', 'wb') as f: f.write(block)\n"
)


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    host = os.environ.get("DOCKER_HOST") or f"unix://{images.BENCH_DIR}/daemon/docker.sock"
    client = docker.DockerClient(base_url=host, timeout=600)
    images.ensure_all(client)
    api = client.api
    labels = {"ace.bench.cache": uuid.uuid4().hex[:10]}
    filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
    print(f"Docker {client.version()['Version']}, {N} engines, {ROUNDS} rounds each")
    print("shape | list (no size) | list size=1 (all engines) | inspect size=1 x N | SizeRw per engine")
    try:
        for shape, count, size in SHAPES:
            ids = []
            for index in range(N):
                created = api.create_container(
                    images.ENGINE_IMAGES[0],
                    name=f"bench-cache-{labels['ace.bench.cache']}-{index}",
                    labels=labels,
                    host_config=api.create_host_config(network_mode="none"),
                )
                api.start(created["Id"])
                ids.append(created["Id"])
            for container_id in ids:
                run = api.exec_create(container_id, ["python3", "-c", WRITE, str(count), str(size)])
                api.exec_start(run["Id"])
            plain, sized, each = [], [], []
            for _ in range(ROUNDS):
                plain.append(timed(lambda: api.containers(all=True, filters=filters)))
                sized.append(timed(lambda: api.containers(all=True, filters=filters, size=True)))
                each.append(timed(lambda ids=ids: [_inspect_sized(api, i) for i in ids]))
            rows = api.containers(all=True, filters=filters, size=True)
            size_rw = statistics.median(row.get("SizeRw", 0) for row in rows)
            print(f"{shape} | {_ms(plain)} | {_ms(sized)} | {_ms(each)} | {size_rw / (1 << 20):.1f} MiB")
            for container_id in ids:
                api.remove_container(container_id, force=True)
    finally:
        for row in api.containers(all=True, filters=filters):
            api.remove_container(row["Id"], force=True)


def _inspect_sized(api: docker.APIClient, container_id: str) -> object:
    """`GET /containers/{id}/json?size=1`: docker-py's inspect_container takes no `size`."""
    url = api._url("/containers/{0}/json", container_id)
    return api._result(api._get(url, params={"size": 1}), json=True)


def _ms(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"


if __name__ == "__main__":
    main()
