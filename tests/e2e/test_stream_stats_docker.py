"""The stat collector on the real bench: `ace-supervisor serve` asks a real engine stand-in container
(HTTP/1.1, through Docker's port proxy) for its sessions' stats on connections it keeps from pass to pass;
the figures it keeps move with the engine's; a restart of the stand-in (every kept connection dropped)
gives no verdict while it is down and verdicts again on new connections once it is back; and
DELETE /streams/{id} stops the session on the engine.

Engines publish 27350-27351 on 127.0.0.1.
"""

from __future__ import annotations

import time
from typing import Any

import docker
import httpx
import pytest
from e2e import supervisor_harness as harness
from e2e.test_faults_docker import AUTH, ready_engines

pytestmark = pytest.mark.docker

FIRST_PORT = 27350
CHECK_INTERVAL_S = 1.0  # the stream check runs at the health check interval


def _supervisor(stack_for: Any) -> harness.SupervisorProcess:
    supervisor: harness.SupervisorProcess = stack_for(
        "standalone",
        FIRST_PORT,
        ports=2,
        max_replicas=1,
        replicas={"max_streams_per_engine": 5},
        # A stand-in stopped for a few seconds is waited for, not replaced: its streams stay recorded.
        timings={"health_check_interval_s": CHECK_INTERVAL_S, "engine_restart_window_s": 60},
    )
    return supervisor


def _open_session(port: int, key: str) -> dict[str, Any]:
    answer = httpx.get(f"http://127.0.0.1:{port}/ace/getstream", params={"content_id": key, "format": "json"})
    session: dict[str, Any] = answer.json()["response"]
    return session


def _announce(client: httpx.Client, port: int, key: str, session: dict[str, Any]) -> str:
    started = {
        "engine": {"host": "localhost", "port": port},
        "stream": {"key_type": "content_id", "key": key},
        "session": {k: session[k] for k in ("playback_session_id", "stat_url", "command_url", "is_live")},
    }
    answer = client.post("/events/stream_started", json=started, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def _samples(client: httpx.Client, stream_id: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = client.get(f"/streams/{stream_id}/stats").json()
    return answer


def _status(client: httpx.Client, stream_id: str) -> str:
    return str(client.get(f"/streams/{stream_id}").json()["status"])


def _engine_state(port: int) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/_standin/state").json()
    return state


def _stat_requests(container: Any) -> int:
    """How many stat URLs the stand-in was asked since its start (it logs every request)."""
    lines = container.logs().decode(errors="replace").splitlines()
    return sum(1 for line in lines if "/ace/stat/" in line)


def _asked_on_kept_connections(container: Any, port: int, streams: int, passes: int = 5) -> None:
    """Over `passes` more stream checks, the engine is asked every stream's stat URL each time (and a
    health probe each time) while it accepts at most 3 new connections: this test's own state read, and
    the supervisor's pool growing to its steady size (one connection per request in flight, a pass's and
    a health probe's)."""
    connections, asked = _engine_state(port)["connections"], _stat_requests(container)
    harness.wait_until(
        lambda: _stat_requests(container) >= asked + passes * streams, 30, f"{passes} more passes"
    )
    assert _engine_state(port)["connections"] - connections <= 3


def test_stats_move_across_passes_on_kept_connections_and_delete_stops_the_session(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = _supervisor(stack_for)
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        made = client.post("/provision/acestream", headers=AUTH).json()
        ready_engines(client, 1)
        port = made["host_http_port"]
        container = docker_client.containers.get(made["container_id"])
        sessions = {f"k{n}": _open_session(port, f"k{n}") for n in range(3)}
        ids = {key: _announce(client, port, key, session) for key, session in sessions.items()}

        harness.wait_until(lambda: all(len(_samples(client, i)) >= 2 for i in ids.values()), 30, "2 samples")
        _asked_on_kept_connections(container, port, streams=3)
        for stream_id in ids.values():
            stats = _samples(client, stream_id)
            assert len(stats) >= 4 and all(s["status"] == "dl" for s in stats)
            assert stats[-1]["downloaded"] > stats[0]["downloaded"]  # the engine's figures move
            assert len({s["at"] for s in stats}) == len(stats)  # a sample per pass

        deleted = client.delete(f"/streams/{ids['k0']}", headers=AUTH)
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["engine_confirmed"] is True
        assert deleted.json()["stream"]["end_reason"] == "stopped_by_api"
        left = _engine_state(port)["sessions"]
        assert sessions["k0"]["playback_session_id"] not in left  # stopped on the engine itself
        assert {sessions[k]["playback_session_id"] for k in ("k1", "k2")} <= set(left)
        assert client.get(f"/streams/{ids['k0']}").status_code == 404


def test_a_restarted_engine_gives_no_verdict_while_down_then_answers_on_new_connections(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = _supervisor(stack_for)
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        made = client.post("/provision/acestream", headers=AUTH).json()
        ready_engines(client, 1)
        port = made["host_http_port"]
        container = docker_client.containers.get(made["container_id"])
        before = _announce(client, port, "before", _open_session(port, "before"))
        harness.wait_until(lambda: len(_samples(client, before)) >= 2, 30, "samples before the restart")

        container.stop(timeout=1)  # the kept connections go with it
        time.sleep(CHECK_INTERVAL_S * 1.5)
        down = len(_samples(client, before))
        time.sleep(CHECK_INTERVAL_S * 3)  # three passes with the engine down: no verdict, nothing kept
        assert len(_samples(client, before)) == down
        assert _status(client, before) == "started"  # never ended because its engine could not be asked
        assert client.get("/events", params={"type": "stream_stale"}).json() == []

        container.start()
        harness.wait_until(lambda: harness.engine_answers(port), 30, "the stand-in answers again")
        after = _announce(client, port, "after", _open_session(port, "after"))
        harness.wait_until(
            lambda: len({s["downloaded"] for s in _samples(client, after)}) >= 2, 30, "samples after"
        )
        # The restarted engine no longer knows the first session: a verdict again, twice, ends it.
        harness.wait_until(lambda: _status(client, before) == "ended", 30, "the lost session ends")
        (event,) = client.get("/events", params={"type": "stream_stale"}).json()
        assert event["message"].startswith(f"{before}: stale")
        assert _status(client, after) == "started"
        _asked_on_kept_connections(container, port, streams=1)  # kept again
