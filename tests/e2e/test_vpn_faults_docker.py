"""VPN faults on the real bench daemon: a gluetun restarted under its engines, and a forwarded port that
changes to several ports (gluetun v3.41.1's `{"ports": [...]}` with no "port" key)."""

from __future__ import annotations

import time
from typing import Any

import docker
import httpx
import pytest
from e2e import supervisor_harness as harness
from e2e.test_faults_docker import AUTH, offered, ready_engines, states_agree, until

from supervisor.core import labels as label

pytestmark = pytest.mark.docker


def gluetun_control(docker_client: docker.DockerClient, supervisor: Any, path: str, body: Any) -> None:
    vpn = supervisor.settings.vpns[0]
    container = docker_client.containers.get(f"{supervisor.project}-{vpn.service}-1")
    container.reload()
    address = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    key = supervisor.extra_env[vpn.control_api_key_env]
    answer = httpx.put(
        f"http://{address}:{vpn.control_port}{path}", json=body, headers={"X-API-Key": key}, timeout=5
    )
    assert answer.status_code == 200, answer.text


def test_a_gluetun_restart_replaces_its_engines_and_ends_their_streams_with_the_reason(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = stack_for("single", 27110, replicas={"min": 1})
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        (old,) = ready_engines(client, 1)
        port = client.get("/engines").json()[0]["port"]
        event = {
            "engine": {"host": "127.0.0.1", "port": port},
            "stream": {"key_type": "content_id", "key": "k"},
            "session": {"playback_session_id": "s", "is_live": 1},
        }
        assert client.post("/events/stream_started", json=event, headers=AUTH).status_code == 200
        gluetun = docker_client.containers.get(f"{supervisor.project}-gluetun-1")
        started = time.monotonic()
        gluetun.restart(timeout=1)
        withdrawn = until(lambda: old not in offered(client), 20, "the stranded engine withdrawn")
        harness.wait_until(lambda: offered(client) - {old}, 30, "an engine in the new namespace")
        (new,) = ready_engines(client, 1)
        interval = supervisor.settings.timings.vpn_check_interval_s
        harness.report_fault(
            "gluetun restarted", withdrawn, time.monotonic() - started, f"VPN check {interval:g} s"
        )
        assert new != old
        container = docker_client.containers.get(new)
        gluetun.reload()
        assert container.attrs["HostConfig"]["NetworkMode"] == f"container:{gluetun.id}"
        assert container.labels[label.VPN_STARTED_AT] == gluetun.attrs["State"]["StartedAt"]
        ended = client.get("/events", params={"type": "stream_ended"}).json()
        assert any("vpn_restarted" in e["message"] for e in ended), ended
        states_agree(docker_client, supervisor, client)


def test_several_forwarded_ports_move_the_forwarded_engine_to_the_first_of_them(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = stack_for("single", 27120, replicas={"min": 1})
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        (old,) = ready_engines(client, 1)
        assert docker_client.containers.get(old).labels[label.FORWARDED] == "true"
        started = time.monotonic()
        gluetun_control(docker_client, supervisor, "/_standin/portforward", {"ports": [6001, 6002, 6003]})

        def moved() -> bool:
            status = client.get("/orchestrator/status").json()
            return status["vpn"]["forwarded_port"] == 6001 and old not in offered(client)

        harness.wait_until(moved, 20, "the forwarded port read from the ports list")
        withdrawn = time.monotonic() - started
        harness.wait_until(lambda: len(offered(client)) == 1, 30, "a forwarded engine on the new port")
        (new,) = ready_engines(client, 1)
        interval = supervisor.settings.timings.vpn_check_interval_s
        harness.report_fault(
            "forwarded port changed (several)",
            withdrawn,
            time.monotonic() - started,
            f"VPN check {interval:g} s",
        )
        labels = docker_client.containers.get(new).labels
        assert labels[label.FORWARDED] == "true" and labels[label.P2P_PORT] == "6001"
        assert old not in {c.id for c in harness.engine_containers(docker_client, supervisor.settings)}
        changed = client.get("/events", params={"type": "forwarded_port_changed"}).json()
        assert [e["engine_id"] for e in changed] == [old]
        states_agree(docker_client, supervisor, client)
