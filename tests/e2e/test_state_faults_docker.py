"""State faults on the real bench: streams beyond `max_streams_per_engine`, a request `env` the profile
does not allow, and the SQLite file deleted under the running supervisor."""

from __future__ import annotations

import time
from typing import Any

import docker
import pytest
from e2e import supervisor_harness as harness
from e2e.test_faults_docker import AUTH, offered, ready_engines, states_agree

pytestmark = pytest.mark.docker


def stream_event(port: int, session: str) -> dict[str, Any]:
    return {
        "engine": {"host": "127.0.0.1", "port": port},
        "stream": {"key_type": "content_id", "key": f"k-{session}"},
        "session": {"playback_session_id": session, "is_live": 1},
    }


def test_capacity_is_counted_in_streams_and_a_full_engine_gets_a_free_successor(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = stack_for(
        "standalone", 27170, replicas={"min": 1, "min_free": 1, "max_streams_per_engine": 1}
    )
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        (first,) = ready_engines(client, 1)
        port = client.get("/engines").json()[0]["port"]
        for session in ("a", "b"):  # the second is beyond the limit: recorded all the same
            answer = client.post("/events/stream_started", json=stream_event(port, session), headers=AUTH)
            assert answer.status_code == 200, answer.text
        harness.wait_until(
            lambda: len(offered(client) - {first}) == 1, 20, "a free engine beside the full one"
        )
        status = client.get("/orchestrator/status").json()
        assert status["streams"]["active"] == 2
        assert status["capacity"]["used"] == 1 and status["capacity"]["available"] >= 1
        metrics = client.get("/metrics").text
        assert "ace_supervisor_streams_over_limit 1.0" in metrics
        states_agree(docker_client, supervisor, client)


def test_a_request_env_the_profile_does_not_allow_is_refused_and_never_reaches_docker(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = stack_for("standalone", 27175, ports=2, max_replicas=2)
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        for _ in range(6):  # more than the breaker's threshold
            answer = client.post("/provision/acestream", json={"env": {"PATH": "/nonexistent"}}, headers=AUTH)
            assert answer.status_code == 400
            assert "env.PATH" in answer.text and "allowed: STANDIN_FAULT" in answer.text
        assert harness.count_engine_containers(docker_client, supervisor.settings) == 0
        status = client.get("/orchestrator/status").json()
        assert status["provisioning"]["circuit_breaker_state"] == "closed"
        assert client.post("/provision/acestream", headers=AUTH).status_code == 200


def test_a_database_deleted_under_the_running_supervisor_is_written_again(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = stack_for("standalone", 27177, ports=3, max_replicas=3, replicas={"min": 1})
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        (engine_id,) = ready_engines(client, 1)
        port = client.get("/engines").json()[0]["port"]
        assert (
            client.post("/events/stream_started", json=stream_event(port, "s"), headers=AUTH).status_code
            == 200
        )
        first_seen = client.get("/engines").json()[0]["first_seen"]
        for suffix in ("", "-wal", "-shm"):
            supervisor.db_path.with_name(supervisor.db_path.name + suffix).unlink(missing_ok=True)
        deleted = time.monotonic()
        harness.wait_until(supervisor.db_path.exists, 15, "the database written again")
        rewritten = time.monotonic() - deleted
        harness.wait_until(
            lambda: client.get("/events", params={"type": "database_rewritten"}).json(), 5, "the event"
        )
        harness.report_fault("the SQLite file deleted", None, rewritten, "database check 5 s")
    # After a restart nothing the running supervisor knew is lost: the stream, first_seen, the engine.
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        (engine,) = client.get("/engines").json()
        assert engine["container_id"] == engine_id and engine["first_seen"] == first_seen
        started = client.get("/streams", params={"status": "started"}).json()
        assert [stream["container_id"] for stream in started] == [engine_id]
        states_agree(docker_client, supervisor, client)
