"""Stream statistics and stop on the real bench: the stream check collects a live session's figures from
the engine stand-in, and POST /streams/{id}/stop stops the session on the engine itself."""

from __future__ import annotations

from typing import Any

import docker
import httpx
import pytest
from e2e import supervisor_harness as harness
from e2e.test_faults_docker import AUTH, ready_engines

pytestmark = pytest.mark.docker


def test_stats_are_collected_from_the_engine_and_stop_stops_the_session_there(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = stack_for(
        "standalone", 27195, ports=3, max_replicas=3, timings={"health_check_interval_s": 1}
    )
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        made = client.post("/provision/acestream", headers=AUTH).json()
        ready_engines(client, 1)
        port = made["host_http_port"]
        session = httpx.get(
            f"http://127.0.0.1:{port}/ace/getstream", params={"content_id": "0a1b2c", "format": "json"}
        ).json()["response"]
        started = {
            "engine": {"host": "localhost", "port": port},
            "stream": {"key_type": "content_id", "key": "0a1b2c"},
            "session": {
                key: session[key] for key in ("playback_session_id", "stat_url", "command_url", "is_live")
            },
        }
        stream_id = client.post("/events/stream_started", json=started, headers=AUTH).json()["id"]

        def samples() -> list[dict[str, Any]]:
            answer: list[dict[str, Any]] = client.get(f"/streams/{stream_id}/stats").json()
            return answer

        harness.wait_until(
            lambda: len({s["downloaded"] for s in samples()}) >= 2, 30, "two different samples"
        )
        stats = samples()
        assert all(s["status"] == "dl" and s["peers"] >= 7 for s in stats)
        assert stats[-1]["downloaded"] > stats[0]["downloaded"]  # the engine's figures move: collected anew
        assert stats[-1]["livepos"]["last"] is not None

        stopped = client.post(f"/streams/{stream_id}/stop", headers=AUTH).json()
        assert stopped["engine_confirmed"] is True and stopped["stream"]["end_reason"] == "stopped_by_api"
        gone = httpx.get(session["stat_url"]).json()
        assert gone["response"] is None  # the engine itself no longer knows the session
        assert client.get("/streams", params={"status": "started"}).json() == []
