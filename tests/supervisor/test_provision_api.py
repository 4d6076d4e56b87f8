"""Provisioning through the API on the fake runtime: what a proxy and an operator would notice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervisor.core.clock import ManualClock
from supervisor.runtime.fake import FakeRuntime
from supervisor.service import Supervisor

pytestmark = pytest.mark.anyio


def supervisor_of(client: Any) -> Supervisor:
    found: Supervisor = client.app.state.supervisor
    return found


async def test_standalone_provision_answers_200_and_publishes_the_engine_port(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        answer = await client.post("/provision/acestream", json={"labels": {"team": "a"}}, headers=auth)
        assert answer.status_code == 200
        body = answer.json()
        assert body["host_http_port"] == 19000
        assert (body["container_http_port"], body["container_https_port"]) == (6878, 6879)
        spec = runtime.specs[body["container_id"]]
        assert spec.published[0].host_port == 19000 and spec.published[0].container_port == 6878
        # The ports, then the default cache policy's cap (engine.cache: disk, 4GiB).
        conf = "--http-port=6878\n--https-port=6879\n--bind-all\n--cache-limit=4"
        assert spec.environment["CONF"] == conf
        assert spec.labels["team"] == "a" and spec.labels["acestream-orchestrator.host_http_port"] == "19000"
        engines = (await client.get("/engines")).json()
        assert [engine["container_id"] for engine in engines] == [body["container_id"]]
        assert engines[0]["health_status"] == "unknown" and engines[0]["port"] == 19000


async def test_vpn_engines_join_the_gluetun_namespace_on_its_range(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        body = (await client.post("/provision/acestream", headers=auth)).json()
        gluetun = next(info for info in runtime.containers.values() if info.name.endswith("gluetun-1"))
        spec = runtime.specs[body["container_id"]]
        assert spec.network_mode == f"container:{gluetun.id}" and spec.published == ()
        assert body["host_http_port"] == body["container_http_port"] == 40000
        assert body["container_https_port"] == 41000
        # The first engine on a port-forwarding VPN gets the forwarded port as its P2P port.
        assert spec.environment["P2P_PORT"] == "5914"
        assert spec.labels["acestream-orchestrator.forwarded"] == "true"


async def test_redundant_mode_spreads_engines_over_both_vpns(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("redundant") as client:
        ports = [
            (await client.post("/provision/acestream", headers=auth)).json()["host_http_port"]
            for _ in range(4)
        ]
        assert sorted(ports) == [40000, 40001, 40010, 40011]


async def test_redundant_mode_avoids_a_disconnected_vpn(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("redundant") as client:
        second = next(info for info in runtime.containers.values() if info.name.endswith("gluetun-2-1"))
        runtime.kill(second.id)
        await supervisor_of(client).vpn.tick()
        ports = [
            (await client.post("/provision/acestream", headers=auth)).json()["host_http_port"]
            for _ in range(3)
        ]
        assert ports == [40000, 40001, 40002]
        status = (await client.get("/orchestrator/status")).json()
        assert status["status"] == "degraded" and status["vpn"]["connected"] is True


async def test_refusals_carry_the_detail_proxies_parse(
    open_client: Any, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("single", max_replicas=1) as client:
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
        refused = await client.post("/provision/acestream", headers=auth)
        assert refused.status_code == 503
        assert refused.json()["detail"]["code"] == "max_capacity"
        probes.vpn_status = "stopped"
        await supervisor_of(client).vpn.tick()
        status = (await client.get("/orchestrator/status")).json()
        assert status["status"] == "unavailable"
        assert status["provisioning"]["blocked_reason"] == "vpn_disconnected"


async def test_repeated_docker_failures_open_the_circuit_breaker(
    open_client: Any, runtime: FakeRuntime, clock: ManualClock, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        runtime.fail_next_creates = 5
        for _ in range(5):
            failed = await client.post("/provision/acestream", headers=auth)
            assert failed.status_code == 503 and "injected failure" in failed.json()["detail"]
        blocked = (await client.post("/provision/acestream", headers=auth)).json()["detail"]
        assert blocked["code"] == "circuit_breaker" and blocked["recovery_eta_seconds"] == 300
        assert supervisor_of(client).state.pool.used(None) == 0  # every failed attempt freed its port
        clock.advance(300)
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
        await supervisor_of(client).readiness.tick()  # a start counts once the engine answers
        status = (await client.get("/orchestrator/status")).json()
        assert status["provisioning"]["circuit_breaker_state"] == "closed"


async def test_delete_frees_the_port_and_containers_is_an_alias(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        first = (await client.post("/provision/acestream", headers=auth)).json()
        second = (await client.post("/provision/acestream", headers=auth)).json()
        assert (await client.delete(f"/engines/{first['container_id']}", headers=auth)).status_code == 200
        assert (
            await client.delete(f"/containers/{second['container_name']}", headers=auth)
        ).status_code == 200
        assert runtime.containers.keys().isdisjoint({first["container_id"], second["container_id"]})
        again = (await client.post("/provision/acestream", headers=auth)).json()
        assert again["host_http_port"] == 19000
        missing = await client.delete("/engines/nope", headers=auth)
        assert missing.status_code == 404 and "GET /engines" in missing.json()["detail"]


async def test_a_requested_host_port_is_honoured_or_refused_clearly(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        taken = await client.post("/provision/acestream", json={"host_port": 19004}, headers=auth)
        assert taken.json()["host_http_port"] == 19004
        again = await client.post("/provision/acestream", json={"host_port": 19004}, headers=auth)
        assert again.status_code == 409
        outside = await client.post("/provision/acestream", json={"host_port": 80}, headers=auth)
        assert outside.status_code == 400 and outside.json()["field"] == "host_port"


async def test_the_engine_ports_cannot_be_overridden_through_env_or_labels(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        env = await client.post("/provision/acestream", json={"env": {"CONF": "--http-port=1"}}, headers=auth)
        assert env.status_code == 400 and env.json()["field"] == "env.CONF"
        label = {"labels": {"acestream-orchestrator.http_port": "1"}}
        assert (await client.post("/provision/acestream", json=label, headers=auth)).status_code == 400
        assert (await client.get("/engines")).json() == []


async def test_an_engine_that_never_answers_is_rolled_back_after_the_startup_timeout(
    open_client: Any,
    runtime: FakeRuntime,
    probes: Any,
    clock: ManualClock,
    auth: dict[str, str],
) -> None:
    async with open_client("standalone") as client:
        supervisor = supervisor_of(client)
        good = (await client.post("/provision/acestream", headers=auth)).json()
        probes.silent.add(19001)
        silent = (await client.post("/provision/acestream", headers=auth)).json()
        await supervisor.readiness.tick()
        clock.advance(24)
        await supervisor.readiness.tick()
        assert silent["container_id"] in runtime.containers
        clock.advance(1)
        await supervisor.readiness.tick()
        assert silent["container_id"] not in runtime.containers
        engines = {engine["container_id"]: engine for engine in (await client.get("/engines")).json()}
        assert set(engines) == {good["container_id"]}
        assert engines[good["container_id"]]["health_status"] == "healthy"
        assert supervisor.store.engine_state(silent["container_id"]) == (
            "gone",
            "not ready within 25s startup timeout",
        )
        metrics = (await client.get("/metrics")).text
        assert 'ace_supervisor_provision_attempts_total{result="rolled_back"} 1.0' in metrics


async def test_wait_ready_answers_once_the_engine_serves(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("standalone") as client:
        answer = await client.post("/provision/acestream?wait=ready", headers=auth)
        assert answer.status_code == 200
        engine = (await client.get(f"/engines/{answer.json()['container_id']}")).json()["engine"]
        assert engine["health_status"] == "healthy"


async def test_wait_ready_reports_an_engine_that_never_answers(
    open_client: Any, probes: Any, clock: ManualClock, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        probes.silent.add(19000)
        request = asyncio.ensure_future(client.post("/provision/acestream?wait=ready", headers=auth))
        for _ in range(40):
            await asyncio.sleep(0.01)
            clock.advance(1)
        answer = await request
        assert answer.status_code == 503 and "did not answer within 25s" in answer.json()["detail"]
        assert (await client.get("/engines")).json() == []


async def test_health_checks_mark_a_silent_engine_unhealthy_and_replace_it_after_grace(
    open_client: Any,
    runtime: FakeRuntime,
    probes: Any,
    clock: ManualClock,
    auth: dict[str, str],
) -> None:
    async with open_client("standalone") as client:
        supervisor = supervisor_of(client)
        engine_id = (await client.post("/provision/acestream?wait=ready", headers=auth)).json()[
            "container_id"
        ]
        probes.silent.add(19000)
        for _ in range(3):
            await supervisor.health.tick()
        engine = (await client.get(f"/engines/{engine_id}")).json()["engine"]
        assert engine["health_status"] == "unhealthy"
        clock.advance(60)
        await supervisor.health.tick()
        await supervisor.reconciler.tick()
        assert engine_id not in runtime.containers


async def test_scale_sets_the_desired_count_and_autoscale_converges(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_replicas=5) as client:
        supervisor = supervisor_of(client)
        assert (await client.post("/scale/9", headers=auth)).status_code == 400
        answer = await client.post("/scale/3", headers=auth)
        assert answer.status_code == 200 and answer.json()["desired"] == 3
        await supervisor.reconciler.tick()
        assert len((await client.get("/engines")).json()) == 3


async def test_engines_removed_behind_our_back_are_forgotten_and_their_ports_freed(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = supervisor_of(client)
        engine_id = (await client.post("/provision/acestream", headers=auth)).json()["container_id"]
        await runtime.stop_and_remove(engine_id)
        await supervisor.reconciler.tick()
        assert (await client.get("/engines")).json() == []
        assert supervisor.state.pool.used(None) == 0


async def test_a_docker_failure_on_delete_is_a_503_and_the_engine_stays_listed(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        engine_id = (await client.post("/provision/acestream", headers=auth)).json()["container_id"]
        event = {
            "engine": {"host": "localhost", "port": 19000},
            "stream": {"key_type": "content_id", "key": "k"},
            "session": {"playback_session_id": "s"},
        }
        await client.post("/events/stream_started", json=event, headers=auth)
        runtime.fail_next_removes = 1
        failed = await client.delete(f"/engines/{engine_id}", headers=auth)
        assert failed.status_code == 503 and "injected failure" in failed.json()["detail"]
        assert [engine["container_id"] for engine in (await client.get("/engines")).json()] == [engine_id]
        assert [stream["status"] for stream in (await client.get("/streams")).json()] == ["started"]
        assert (await client.delete(f"/engines/{engine_id}", headers=auth)).status_code == 200
        ended = (await client.get("/streams")).json()
        assert [(stream["status"], stream["container_id"]) for stream in ended] == [("ended", engine_id)]


async def test_request_env_is_limited_to_what_the_profile_allows(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    """A request env that breaks the image (PATH) must never reach Docker, or five of them open the
    breaker for everyone: only the profile's engine.allowed_env may be set, none by default."""
    async with open_client("standalone") as client:
        refused = await client.post(
            "/provision/acestream", json={"env": {"PATH": "/nonexistent"}}, headers=auth
        )
        assert refused.status_code == 400
        assert refused.json()["field"] == "env.PATH" and "allowed: none" in refused.text
        assert (await client.post("/provision/acestream", json={"env": {}}, headers=auth)).status_code == 200
    async with open_client("standalone", allowed_env=("ACESTREAM_CACHE_LIMIT",)) as client:
        made = await client.post(
            "/provision/acestream", json={"env": {"ACESTREAM_CACHE_LIMIT": "2"}}, headers=auth
        )
        assert made.status_code == 200
        assert runtime.specs[made.json()["container_id"]].environment["ACESTREAM_CACHE_LIMIT"] == "2"
        other = await client.post("/provision/acestream", json={"env": {"TZ": "UTC"}}, headers=auth)
        assert other.status_code == 400 and "allowed: ACESTREAM_CACHE_LIMIT" in other.text
        status = (await client.get("/orchestrator/status")).json()
        assert status["provisioning"]["circuit_breaker_state"] == "closed"


async def test_starts_that_never_become_ready_open_the_breaker(
    open_client: Any, probes: Any, clock: ManualClock, auth: dict[str, str]
) -> None:
    """An image that never answers must not churn for ever behind a closed breaker."""
    async with open_client("standalone") as client:
        supervisor = supervisor_of(client)
        timings = supervisor.config.stack.timings
        probes.silent.update(range(19000, 19010))
        for _ in range(timings.circuit_breaker_failure_threshold):
            assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
            clock.advance(timings.startup_timeout_s)
            await supervisor.readiness.tick()
        refused = await client.post("/provision/acestream", headers=auth)
        assert refused.status_code == 503 and refused.json()["detail"]["code"] == "circuit_breaker"
        status = (await client.get("/orchestrator/status")).json()
        assert status["status"] == "unavailable" or status["status"] == "degraded"
        assert "not ready within" in status["provisioning"]["last_failure"]


async def test_a_host_port_behind_a_vpn_that_is_not_connected_is_a_conflict(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    """The request is right and the stack is not ready for it: 409 (retry later), never 400 (fix it)."""
    async with open_client("redundant") as client:
        supervisor = supervisor_of(client)
        ranges = supervisor.config.stack.published_engine_ranges()
        runtime.remove_behind(supervisor.state.vpns["gluetun-2"].container_id)  # its engines have no network
        await supervisor.vpn.tick()
        down = await client.post(
            "/provision/acestream", json={"host_port": ranges["gluetun-2"].first}, headers=auth
        )
        assert down.status_code == 409, down.text
        assert "gluetun-2" in down.json()["detail"] and "not connected" in down.json()["detail"]
        up = await client.post(
            "/provision/acestream", json={"host_port": ranges["gluetun"].first}, headers=auth
        )
        assert up.status_code == 200 and up.json()["host_http_port"] == ranges["gluetun"].first
