"""The stream check on the real bench: `ace-supervisor serve` asks a real engine stand-in container for
its sessions. A session the engine still plays keeps its stream; once the session is stopped behind the
supervisor's back (the engine's command_url, method=stop), the supervisor ends the stream as stale.

Engines publish 27150-27159 on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from e2e import supervisor_harness as harness

pytestmark = pytest.mark.docker

FIRST_PORT = 27150
CHECK_INTERVAL_S = 1.0  # the stream check runs at the health check interval


@pytest.fixture
def supervisor(
    tmp_path: Path,
    docker_client: docker.DockerClient,
    docker_host: str,
    bench_cleanup: str,
    bench_labels: dict[str, str],
) -> Iterator[harness.SupervisorProcess]:
    settings = harness.stack_settings(tmp_path, bench_cleanup, "standalone", FIRST_PORT, max_replicas=2)
    timings = settings.timings.model_copy(update={"health_check_interval_s": CHECK_INTERVAL_S})
    settings = settings.model_copy(update={"timings": timings})
    taken = [port for ports in settings.published_engine_ranges().values() for port in ports.ports()]
    assert all(harness.port_is_free(port) for port in taken), f"{taken} must be free for this test"
    network = harness.make_network(docker_client, bench_cleanup, bench_labels)
    process = harness.SupervisorProcess(
        settings, tmp_path, docker_host, project=bench_cleanup, network=network
    )
    with harness.running_supervisor(process):
        yield process


def _stat_requests(container: Any, session: str) -> int:
    """How often the engine stand-in was asked for this session's stats (it logs every request)."""
    lines = container.logs().decode(errors="replace").splitlines()
    return sum(1 for line in lines if "/ace/stat/" in line and f"/{session} " in line)


def _stream(client: httpx.Client, stream_id: str) -> dict[str, Any]:
    (stream,) = [s for s in client.get("/streams").json() if s["id"] == stream_id]
    return dict(stream)


def test_a_session_stopped_behind_the_supervisors_back_ends_as_stale(
    supervisor: harness.SupervisorProcess, docker_client: docker.DockerClient
) -> None:
    with supervisor.client() as client:
        provisioned = client.post("/provision/acestream", json={}, headers=harness.AUTH)
        assert provisioned.status_code == 200, provisioned.text
        port = provisioned.json()["host_http_port"]
        container = docker_client.containers.get(provisioned.json()["container_id"])
        harness.wait_until(lambda: harness.engine_answers(port), 15, "engine answers")

        # A real session on the engine, as acexy opens one, then announced as acexy announces it.
        opened = httpx.get(
            f"http://127.0.0.1:{port}/ace/getstream", params={"content_id": "0a1b2c", "format": "json"}
        )
        session = opened.json()["response"]
        started = {
            "container_id": "acexy-0123456789ab",
            "engine": {"host": "localhost", "port": port},
            "stream": {"key_type": "content_id", "key": "0a1b2c"},
            "session": {
                "playback_session_id": session["playback_session_id"],
                "stat_url": session["stat_url"],
                "command_url": session["command_url"],
                "is_live": session["is_live"],
            },
            "labels": {},
        }
        answer = client.post("/events/stream_started", json=started, headers=harness.AUTH)
        assert answer.status_code == 200, answer.text
        stream_id = answer.json()["id"]
        session_id = session["playback_session_id"]

        # While the engine plays the session, every check finds it alive: the stream stays.
        harness.wait_until(lambda: _stat_requests(container, session_id) >= 3, 30, "three stream checks")
        assert _stream(client, stream_id)["status"] == "started"
        assert client.get("/events", params={"type": "stream_stale"}).json() == []

        stopped = httpx.get(session["command_url"], params={"method": "stop"})
        assert stopped.json() == {"response": "ok", "error": None}
        ended_at = time.monotonic()

        harness.wait_until(lambda: _stream(client, stream_id)["status"] == "ended", 30, "the stream ended")
        harness.report_fault(
            "a session ends behind our back (no stream_ended)",
            None,
            time.monotonic() - ended_at,
            f"stream check {CHECK_INTERVAL_S:g} s, 2 gone answers in a row",
        )
        (event,) = client.get("/events", params={"type": "stream_stale"}).json()
        assert event["message"].startswith(f"{stream_id}: stale") and session_id in event["message"]
        assert client.get("/streams", params={"status": "started"}).json() == []
        (engine,) = client.get("/engines").json()
        assert engine["container_id"] == container.id and engine["streams"] == []  # the engine stays
