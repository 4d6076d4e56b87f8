"""The supervisor against the real bench daemon: `ace-supervisor serve` on the host, engine and gluetun
stand-ins as real containers (tests/e2e/supervisor_harness.py).

- The acexy lifecycle per mode: provision answers within acexy's 3 s -> the engine stand-in answers on the
  reported port (through its gluetun's published ports in VPN modes) -> /engines lists it -> stream
  started/ended as acexy sends them -> DELETE -> the container is gone and its port free.
- 100 concurrent provisions with max=20: exactly 20 engine containers, distinct ports, 80 refused.
- SIGKILL during a burst, restart: every running engine adopted, no orphan, no shared port, SQLite agrees.
- An engine that never answers is rolled back within the startup timeout, with the reason recorded.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import docker
import httpx
import pytest
from e2e import supervisor_harness as harness
from pydantic import TypeAdapter

from supervisor.core import labels as label

pytestmark = pytest.mark.docker

MODELS = harness.strict_models()
ENGINES = TypeAdapter(list[MODELS.EngineJson])
STREAMS = TypeAdapter(list[MODELS.StreamJson])


def provision(client: httpx.Client, **body: Any) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    answer = client.post("/provision/acestream", json=body, headers=harness.AUTH)
    return time.monotonic() - started, answer


def assert_cleanup_finds(
    docker_client: docker.DockerClient, supervisor: harness.SupervisorProcess, bench_name: str
) -> None:
    """Every engine carries the compose project label the bench clean-up removes by."""
    for container in harness.engine_containers(docker_client, supervisor.settings):
        assert container.labels.get(label.COMPOSE_PROJECT) == bench_name, container.name


@pytest.mark.parametrize(
    ("mode", "first_port"), [("standalone", 27000), ("single", 27020), ("redundant", 27040)]
)
def test_acexy_lifecycle_on_real_containers(
    stack_for: Any, docker_client: docker.DockerClient, bench_cleanup: str, mode: str, first_port: int
) -> None:
    supervisor = stack_for(mode, first_port, max_replicas=4)
    engines_wanted = 2 if mode == "redundant" else 1
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        made = []
        for _ in range(engines_wanted):
            seconds, answer = provision(client)  # the client's 3 s timeout is the contract
            assert answer.status_code == 200, answer.text
            made.append(MODELS.ProvisionJson.model_validate(answer.json()))
            print(f"\n{mode}: provision answered in {seconds * 1000:.0f} ms")
        assert_cleanup_finds(docker_client, supervisor, bench_cleanup)

        for engine in made:
            container = docker_client.containers.get(engine.container_id)
            assert container.status == "running"
            if mode == "standalone":
                assert harness.published_host_ports(container) == [engine.host_http_port]
            else:  # in its gluetun's namespace, on a port that gluetun publishes
                gluetun = docker_client.containers.get(container.labels[label.VPN_CONTAINER])
                assert container.attrs["HostConfig"]["NetworkMode"] == f"container:{gluetun.id}"
                assert engine.host_http_port in harness.published_host_ports(gluetun)
            harness.wait_until(
                lambda port=engine.host_http_port: harness.engine_answers(port), 15, "engine answers"
            )
        if mode == "redundant":
            vpns = {docker_client.containers.get(e.container_id).labels[label.VPN] for e in made}
            assert vpns == {"gluetun", "gluetun-2"}  # a new engine goes to the VPN with fewer

        def all_healthy() -> bool:
            listed = ENGINES.validate_json(client.get("/engines").content)
            return len(listed) == engines_wanted and all(e.health_status == "healthy" for e in listed)

        harness.wait_until(all_healthy, 15, "/engines lists every engine healthy")
        listed = {e.container_id: e for e in ENGINES.validate_json(client.get("/engines").content)}
        assert {e.port for e in listed.values()} == {e.host_http_port for e in made}

        engine = made[0]
        started = {
            "container_id": "acexy-0123456789ab",  # acexy's own id; the engine is named by host and port
            "engine": {"host": "localhost", "port": engine.host_http_port},
            "stream": {"key_type": "content_id", "key": "0a1b2c"},
            "session": {
                "playback_session_id": "session-1",
                "stat_url": f"http://localhost:{engine.host_http_port}/ace/stat/x/session-1",
                "command_url": f"http://localhost:{engine.host_http_port}/ace/cmd/x/session-1",
                "is_live": 1,
            },
            "labels": {"stream_id": "0a1b2c|session-1"},
        }
        assert client.post("/events/stream_started", json=started, headers=harness.AUTH).status_code == 200
        active = STREAMS.validate_json(
            client.get("/streams", params={"status": "started", "container_id": engine.container_id}).content
        )
        assert [s.id for s in active] == ["0a1b2c|session-1"]
        ended = {"container_id": "acexy-0123456789ab", "stream_id": "0a1b2c|session-1", "reason": "completed"}
        assert client.post("/events/stream_ended", json=ended, headers=harness.AUTH).status_code == 200
        assert client.get("/streams", params={"status": "started"}).json() == []

        for engine in made:
            answer = client.delete(f"/engines/{engine.container_id}", headers=harness.AUTH)
            assert answer.status_code == 200, answer.text
            with pytest.raises(docker.errors.NotFound):
                docker_client.containers.get(engine.container_id)
            harness.wait_until(
                lambda p=engine.host_http_port: not harness.engine_answers(p), 5, "engine gone"
            )
            if mode == "standalone":
                harness.wait_until(lambda p=engine.host_http_port: harness.port_is_free(p), 5, "port free")
        assert client.get("/engines").json() == []
        assert harness.engine_containers(docker_client, supervisor.settings) == []
        _, again = provision(client)  # a freed port is handed out again
        assert again.status_code == 200 and again.json()["host_http_port"] in {e.host_http_port for e in made}


async def _burst(url: str, count: int, timeout: float) -> list[httpx.Response | Exception]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        return await asyncio.gather(
            *(client.post("/provision/acestream", json={}, headers=harness.AUTH) for _ in range(count)),
            return_exceptions=True,
        )


def test_100_concurrent_provisions_start_exactly_max_real_engines(
    stack_for: Any, docker_client: docker.DockerClient, bench_cleanup: str
) -> None:
    supervisor = stack_for("standalone", 27100, ports=30, max_replicas=20)
    with harness.running_supervisor(supervisor):
        started = time.monotonic()
        answers = asyncio.run(_burst(supervisor.url, 100, timeout=60))
        assert not [a for a in answers if isinstance(a, Exception)]
        responses = [a for a in answers if isinstance(a, httpx.Response)]
        waits = sorted(a.elapsed.total_seconds() for a in responses if a.status_code == 200)
        print(
            f"\n100 concurrent provisions (max 20): all answered in {time.monotonic() - started:.2f} s; "
            f"the 20 accepted in {waits[len(waits) // 2]:.2f} s median, {waits[-1]:.2f} s at most"
        )
        accepted = [MODELS.ProvisionJson.model_validate(a.json()) for a in responses if a.status_code == 200]
        refused = [a for a in responses if a.status_code != 200]
        assert len(accepted) == 20 and len(refused) == 80
        for answer in refused:
            assert answer.status_code == 503
            assert MODELS.Blocked.model_validate(answer.json()).detail.code == "max_capacity"
        containers = harness.engine_containers(docker_client, supervisor.settings)
        assert sorted(c.id for c in containers) == sorted(a.container_id for a in accepted)
        assert all(c.status == "running" for c in containers)
        ports = [port for c in containers for port in harness.published_host_ports(c)]
        assert len(ports) == 20 and len(set(ports)) == 20
        assert sorted(ports) == sorted(a.host_http_port for a in accepted)
        assert_cleanup_finds(docker_client, supervisor, bench_cleanup)


def test_sigkill_during_a_burst_then_restart_adopts_every_engine(
    stack_for: Any, docker_client: docker.DockerClient, bench_cleanup: str
) -> None:
    supervisor = stack_for("standalone", 27140, ports=30, max_replicas=20)
    supervisor.start()

    async def burst_then_kill() -> list[httpx.Response | Exception]:
        burst = asyncio.ensure_future(_burst(supervisor.url, 30, timeout=30))
        # Kill once some engines exist on the daemon and others are still being made.
        deadline = time.monotonic() + 20
        while harness.count_engine_containers(docker_client, supervisor.settings) < 4:
            assert time.monotonic() < deadline, "the burst made no engines"
            await asyncio.sleep(0.02)
        supervisor.kill()
        return await burst

    answers = asyncio.run(burst_then_kill())
    lost = sum(isinstance(a, Exception) for a in answers)
    before = harness.engine_containers(docker_client, supervisor.settings)
    states = sorted(container.status for container in before)
    print(
        f"\nSIGKILL during a burst of 30: {lost} requests cut off; engine containers on the daemon: {states}"
    )
    assert lost > 0, "the kill came after the burst had finished; the test proves nothing"

    with harness.running_supervisor(supervisor), supervisor.client() as client:
        containers = harness.engine_containers(docker_client, supervisor.settings)
        assert all(c.status == "running" for c in containers), [(c.name, c.status) for c in containers]
        listed = {e.container_id: e for e in ENGINES.validate_json(client.get("/engines").content)}
        assert set(listed) == {c.id for c in containers}  # every running engine adopted, no orphan
        for container in containers:
            (port,) = harness.published_host_ports(container)
            assert listed[container.id].port == port == int(container.labels[label.HOST_HTTP_PORT])
        ports = [e.port for e in listed.values()]
        assert len(set(ports)) == len(ports)
        store = supervisor.store_rows()
        assert {cid for cid, (state, _) in store.items() if state == "running"} == set(listed)
        for port in ports:
            harness.wait_until(lambda port=port: harness.engine_answers(port), 15, f"engine on {port}")

        # The pool after the restart: the adopted engines, idle and ready, are handed out first; then the
        # remaining capacity, each on a port nobody holds.
        more = asyncio.run(_burst(supervisor.url, 25, timeout=60))
        answered = [
            r.json()["host_http_port"] for r in more if isinstance(r, httpx.Response) and r.status_code == 200
        ]
        assert len(answered) == 20
        assert sorted(port for port in answered if port in ports) == sorted(ports)
        fresh = [port for port in answered if port not in ports]
        assert len(fresh) == 20 - len(listed) and len(set(fresh)) == len(fresh)
        assert len(harness.engine_containers(docker_client, supervisor.settings)) == 20
        assert_cleanup_finds(docker_client, supervisor, bench_cleanup)


def test_an_engine_that_never_answers_is_rolled_back_with_the_reason(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    supervisor = stack_for("standalone", 27180, ports=5, max_replicas=5, startup_timeout_s=3)
    with harness.running_supervisor(supervisor), supervisor.client() as client:
        _, answer = provision(client, env={"STANDIN_FAULT": "hang"})  # the stand-in never answers
        assert answer.status_code == 200, answer.text
        engine = MODELS.ProvisionJson.model_validate(answer.json())
        assert docker_client.containers.get(engine.container_id).status == "running"
        assert [e["health_status"] for e in client.get("/engines").json()] == ["unknown"]

        def rolled_back() -> bool:
            return not harness.engine_containers(docker_client, supervisor.settings)

        harness.wait_until(rolled_back, 20, "the silent engine removed")
        harness.wait_until(lambda: harness.port_is_free(engine.host_http_port), 5, "port free")
        assert client.get("/engines").json() == []
        state, reason = supervisor.store_rows()[engine.container_id]
        assert state == "gone" and reason is not None and "startup timeout" in reason
        metrics = client.get("/metrics").text
        assert re.search(
            r'^ace_supervisor_provision_attempts_total\{result="rolled_back"\} 1\.0$', metrics, re.M
        )
        assert "did not answer" in supervisor.log()
        # Its port is handed out again.
        _, again = provision(client)
        assert again.status_code == 200 and again.json()["host_http_port"] == engine.host_http_port


def test_a_foreign_listener_on_the_lowest_port_is_skipped_not_fatal(
    stack_for: Any, docker_client: docker.DockerClient
) -> None:
    """Another program holds the lowest engine port: Docker cannot publish it, the supervisor skips that
    port and serves every provision from the others, and the breaker stays closed."""
    import socket

    supervisor = stack_for("standalone", 27190, ports=5, max_replicas=5)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 27190))
        squatter.listen()
        with harness.running_supervisor(supervisor), supervisor.client() as client:
            started = time.monotonic()
            answers = [provision(client)[1] for _ in range(4)]
            harness.report_fault(
                "foreign listener on the lowest port (4 provisions)",
                None,
                time.monotonic() - started,
                "port quarantine 300 s",
            )
            assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
            ports = sorted(MODELS.ProvisionJson.model_validate(a.json()).host_http_port for a in answers)
            assert ports == [27191, 27192, 27193, 27194]
            status = client.get("/orchestrator/status").json()
            assert status["provisioning"]["circuit_breaker_state"] == "closed"
            assert harness.count_engine_containers(docker_client, supervisor.settings) == 4
