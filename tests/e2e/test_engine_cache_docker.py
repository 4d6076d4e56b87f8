"""The engine cache policy on the real bench: `ace-supervisor serve` hands each engine image its cap the way
that image takes flags (the stand-in reports what it read), `/engines` shows the container's real disk use
growing as the engine writes its cache, an engine past its cap is left to its viewer while busy and
replaced once idle, and a tmpfs cache is a mount of the size given that keeps the cache off the disk.

Engines publish 27360-27363 on 127.0.0.1, the supervisor listens on 27399.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from e2e import supervisor_harness as harness

from supervisor.core.environment import CACHE_MOUNT
from supervisor.stack_settings import MIB, CacheSettings, PortStyle, StackSettings

pytestmark = pytest.mark.docker

FIRST_PORT = 27360
SUPERVISOR_PORT = 27399
CHECK_INTERVAL_S = 1.0
GROWTH = "STANDIN_CACHE_BYTES_PER_S"
RATE = 4 * MIB  # what the stand-in writes into its cache each second


Start = Callable[..., harness.SupervisorProcess]


@pytest.fixture
def start(
    tmp_path: Path,
    docker_client: docker.DockerClient,
    docker_host: str,
    bench_cleanup: str,
    bench_labels: dict[str, str],
) -> Iterator[Start]:
    """`start(cache, image=..., style=...)`: a standalone supervisor whose engines take that cache policy
    and may be given the stand-in's cache growth; stopped at the end, before the bench's clean-up."""
    made: list[harness.SupervisorProcess] = []

    def build(cache: dict[str, str], image: str | None = None, style: PortStyle | None = None) -> Any:
        settings = harness.stack_settings(
            tmp_path, bench_cleanup, "standalone", FIRST_PORT, ports=4, max_replicas=4
        )
        engine = settings.engine.model_copy(
            update={
                "cache": CacheSettings.model_validate(cache),
                "allowed_env": (*settings.engine.allowed_env, GROWTH),
                **({"image": image} if image else {}),
                **({"port_style": style} if style else {}),
            }
        )
        timings = settings.timings.model_copy(update={"cache_check_interval_s": CHECK_INTERVAL_S})
        settings = StackSettings.model_validate(
            {**settings.model_dump(), "engine": engine.model_dump(), "timings": timings.model_dump()}
        )
        taken = [p for ports in settings.published_engine_ranges().values() for p in ports.ports()]
        assert all(harness.port_is_free(p) for p in [*taken, SUPERVISOR_PORT]), f"{taken} must be free"
        network = harness.make_network(docker_client, bench_cleanup, bench_labels)
        process = harness.SupervisorProcess(
            settings, tmp_path, docker_host, project=bench_cleanup, network=network, port=SUPERVISOR_PORT
        )
        made.append(process)
        process.start()
        return process

    yield build
    for process in made:
        process.stop()


def provision(client: httpx.Client, rate: int) -> dict[str, Any]:
    answer = client.post("/provision/acestream", json={"env": {GROWTH: str(rate)}}, headers=harness.AUTH)
    assert answer.status_code == 200, answer.text
    harness.wait_until(lambda: harness.engine_answers(answer.json()["host_http_port"]), 15, "engine answers")
    return dict(answer.json())


def engine_row(client: httpx.Client, container_id: str) -> dict[str, Any] | None:
    rows = [
        e for e in client.get("/engines", params={"all": "true"}).json() if e["container_id"] == container_id
    ]
    return rows[0] if rows else None


def standin_cache(port: int) -> dict[str, Any]:
    """The cache flags the engine stand-in read from its environment."""
    return dict(httpx.get(f"http://127.0.0.1:{port}/_standin/state").json()["cache"])


def disk_use(client: docker.DockerClient, container_id: str) -> int:
    """Docker's own figure for the container's writable layer, asked directly."""
    (row,) = client.api.containers(all=True, filters={"id": container_id}, size=True)
    return int(row["SizeRw"])


def test_the_cap_reaches_the_engine_and_a_growing_cache_is_replaced_once_idle(
    start: Start, docker_client: docker.DockerClient
) -> None:
    limit = 24 * MIB
    supervisor = start({"mode": "memory", "limit": f"{limit}"})
    with supervisor.client() as client:
        made = provision(client, RATE)
        engine_id, port = made["container_id"], made["host_http_port"]
        container = docker_client.containers.get(engine_id)
        environment = dict(line.split("=", 1) for line in container.attrs["Config"]["Env"])
        conf = environment["CONF"].splitlines()
        assert conf[3:] == ["--live-cache-type=memory", f"--live-mem-cache-size={limit}"]  # CONF lines
        read = standin_cache(port)
        assert (read["live_cache_type"], read["live_mem_cache_size"]) == ("memory", limit)

        # A viewer, as acexy announces one: the engine is busy while its cache passes the cap.
        opened = httpx.get(
            f"http://127.0.0.1:{port}/ace/getstream", params={"content_id": "c0ffee", "format": "json"}
        ).json()["response"]
        started = {
            "container_id": "acexy-0123456789ab",
            "engine": {"host": "localhost", "port": port},
            "stream": {"key_type": "content_id", "key": "c0ffee"},
            "session": {
                "playback_session_id": opened["playback_session_id"],
                "stat_url": opened["stat_url"],
                "command_url": opened["command_url"],
                "is_live": 1,
            },
            "labels": {"stream_id": f"c0ffee|{opened['playback_session_id']}"},
        }
        answer = client.post("/events/stream_started", json=started, headers=harness.AUTH)
        assert answer.status_code == 200, answer.text

        readings: list[tuple[int, int]] = []  # (cache_size_bytes, Docker's SizeRw asked right after)

        def measured_past_the_cap() -> bool:
            row = engine_row(client, engine_id)
            assert row is not None, "a busy engine must not be removed"
            size = row["cache_size_bytes"]
            if size is not None and (not readings or readings[-1][0] != size):
                readings.append((size, disk_use(docker_client, engine_id)))
            return size is not None and size > limit

        harness.wait_until(measured_past_the_cap, 30, "cache_size_bytes past the cap", interval=0.3)
        sizes = [size for size, _ in readings]
        assert len(sizes) >= 3 and sizes == sorted(sizes), f"disk use grows pass after pass: {readings}"
        for size, docker_figure in readings:  # the same figure Docker reports, a pass ago at most
            assert 0 <= docker_figure - size <= 2 * RATE * CHECK_INTERVAL_S + MIB, readings

        time.sleep(3 * CHECK_INTERVAL_S)  # passes go by: it carries a stream, so it stays
        row = engine_row(client, engine_id)
        assert row is not None and row["withdrawn"] == "draining", row
        assert container.reload() is None and container.status == "running"

        ended = {"container_id": "acexy-0123456789ab", "stream_id": started["labels"]["stream_id"]}
        assert client.post("/events/stream_ended", json=ended, headers=harness.AUTH).status_code == 200
        harness.wait_until(lambda: engine_row(client, engine_id) is None, 10, "the idle engine replaced")
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(engine_id)
        removed = client.get("/events", params={"type": "engine_removed"}).json()
        assert [e["engine_id"] for e in removed] == [engine_id]
        metrics = client.get("/metrics").text
        assert 'ace_supervisor_engine_cache_cleanups_total{by="replacement"} 1.0' in metrics


def test_a_tmpfs_cache_is_a_mount_of_its_size_and_stays_off_the_disk(
    start: Start, docker_client: docker.DockerClient
) -> None:
    limit = 32 * MIB
    supervisor = start(
        {"mode": "tmpfs", "limit": f"{limit}"}, image="jopsis/acestream:x64", style=PortStyle.acestream_args
    )
    with supervisor.client() as client:
        made = provision(client, RATE)
        engine_id, port = made["container_id"], made["host_http_port"]
        container = docker_client.containers.get(engine_id)
        assert container.attrs["HostConfig"]["Tmpfs"] == {CACHE_MOUNT: f"size={limit},mode=1777"}
        environment = dict(line.split("=", 1) for line in container.attrs["Config"]["Env"])
        assert environment["ACESTREAM_ARGS"].split()[4:] == [f"--cache-dir={CACHE_MOUNT}"]
        assert standin_cache(port)["cache_dir"] == CACHE_MOUNT

        def tmpfs_used() -> int:
            result = container.exec_run(
                [
                    "python3",
                    "-c",
                    f"import os; s = os.statvfs('{CACHE_MOUNT}'); "
                    "print((s.f_blocks - s.f_bfree) * s.f_frsize)",
                ]
            )
            return int(result.output)

        harness.wait_until(lambda: tmpfs_used() >= 8 * MIB, 15, "the cache fills the tmpfs")
        time.sleep(2 * CHECK_INTERVAL_S)
        row = engine_row(client, engine_id)
        assert row is not None and row["cache_size_bytes"] is not None
        assert row["cache_size_bytes"] < MIB, row  # the cache is in RAM: the disk holds almost nothing
        harness.wait_until(lambda: tmpfs_used() >= limit - MIB, 15, "the tmpfs full")
        time.sleep(2 * CHECK_INTERVAL_S)
        assert tmpfs_used() <= limit  # the kernel holds the cap
        assert engine_row(client, engine_id) is not None  # under the cap on disk: kept
