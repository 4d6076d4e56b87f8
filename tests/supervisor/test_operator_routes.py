"""Operator routes through the API on the fake runtime: VPN status and public IP, the supervisor's health
and the breaker's reset, stream detail, statistics, stop, filters and retention."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.core.records import KeyType, Stream, StreamStatus
from supervisor.runtime.fake import FakeRuntime
from supervisor.store import Store

pytestmark = pytest.mark.anyio


async def test_vpn_status_shows_each_vpn_and_the_public_ip_of_the_last_check(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("redundant") as client:
        supervisor = client.app.state.supervisor
        await client.post("/provision/acestream", headers=auth)
        status = (await client.get("/vpn/status")).json()
        assert (status["mode"], status["enabled"], status["connected"], status["health"]) == (
            "redundant",
            True,
            True,
            "healthy",
        )
        assert [(v["name"], v["status"], v["engines"]) for v in status["vpns"]] == [
            ("gluetun", "running", 1),
            ("gluetun-2", "running", 0),
        ]
        assert status["forwarded_port"] == 5914 and status["forwarded_ports"] == [5914]
        assert (await client.get("/vpn/publicip")).json()["public_ip"] == "203.0.113.7"
        first = next(i for i in runtime.containers.values() if i.name.endswith("-gluetun-1"))
        runtime.remove_behind(first.id)
        await supervisor.vpn.tick()
        status = (await client.get("/vpn/status")).json()
        assert status["health"] == "degraded" and status["status"] == "running"
        assert status["container"].endswith("-gluetun-2-1")
        assert [(v["name"], v["connected"], v["public_ip"]) for v in status["vpns"]] == [
            ("gluetun", False, None),
            ("gluetun-2", True, "203.0.113.7"),
        ]


async def test_standalone_has_no_vpn_and_no_public_ip(open_client: Any, probes: Any) -> None:
    async with open_client("standalone") as client:
        status = (await client.get("/vpn/status")).json()
        assert (status["enabled"], status["status"], status["vpns"]) == (False, "disabled", [])
        missing = await client.get("/vpn/publicip")
        assert missing.status_code == 404 and "public address" in missing.json()["detail"]


async def test_the_public_ip_is_gone_while_the_vpn_is_down(open_client: Any, probes: Any) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        probes.vpn_status = "stopped"
        await supervisor.vpn.tick()
        assert (await client.get("/vpn/publicip")).status_code == 404
        assert (await client.get("/vpn/status")).json()["health"] == "unhealthy"


async def test_health_status_counts_engines_and_the_breaker_reset_resumes_provisioning(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", min=1) as client:
        health = (await client.get("/health/status")).json()
        assert health["engines"] == {
            "total": 1,
            "healthy": 0,
            "unhealthy": 0,
            "unknown": 1,
            "withdrawn": 0,
            "draining": 0,
            "minimum_required": 1,
        }
        assert health["docker_reachable"] is True and health["circuit_breaker"]["state"] == "closed"
        runtime.fail_next_creates = 5
        for n in range(5):
            answer = await client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=auth)
            assert answer.status_code == 503
        breaker = (await client.get("/health/status")).json()["circuit_breaker"]
        assert breaker["state"] == "open" and breaker["failures"] == 5 and breaker["threshold"] == 5
        assert "injected failure" in breaker["last_failure"] and breaker["recovery_eta_seconds"] == 300
        assert (await client.post("/health/circuit-breaker/reset")).status_code == 401
        reset = await client.post("/health/circuit-breaker/reset", headers=auth)
        assert reset.status_code == 200 and reset.json()["state"] == "closed"
        made = await client.post("/provision/acestream", json={"labels": {"n": "after"}}, headers=auth)
        assert made.status_code == 200
        kinds = [e["type"] for e in (await client.get("/events")).json()]
        assert "breaker_reset" in kinds and "breaker_opened" in kinds


async def test_a_daemon_that_does_not_answer_shows_in_health_status(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone") as client:
        runtime.daemon_down = True
        await client.app.state.supervisor.reconciler.tick()
        health = (await client.get("/health/status")).json()
        assert health["docker_reachable"] is False and "Connection refused" in health["docker_failure"]


async def start_stream(client: Any, auth: dict[str, str], session: str = "s1") -> tuple[dict[str, Any], str]:
    engine = (await client.post("/provision/acestream", json={"labels": {"s": session}}, headers=auth)).json()
    event = started_event(engine["host_http_port"], session=session)
    answer = await client.post("/events/stream_started", json=event, headers=auth)
    return engine, answer.json()["id"]


async def test_stream_detail_and_the_statistics_the_stream_check_collected(
    open_client: Any, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        _, stream_id = await start_stream(client, auth)
        shown = (await client.get(f"/streams/{stream_id}")).json()
        assert (shown["id"], shown["status"], shown["end_reason"]) == (stream_id, "started", None)
        assert (await client.get(f"/streams/{stream_id}/stats")).json() == []
        await supervisor.stream_check.tick()
        first_at = (await client.get(f"/streams/{stream_id}/stats")).json()[0]["at"]
        clock.advance(20)
        await supervisor.stream_check.tick()
        stats = (await client.get(f"/streams/{stream_id}/stats")).json()
        assert [(s["status"], s["peers"], s["speed_down"], s["downloaded"]) for s in stats] == [
            ("dl", 7, 120, 4096)
        ] * 2
        later = (await client.get(f"/streams/{stream_id}/stats", params={"since": first_at})).json()
        assert len(later) == 1 and later[0]["at"] > first_at
        missing = await client.get("/streams/nope/stats")
        assert missing.status_code == 404 and "no stream 'nope'" in missing.json()["detail"]


async def test_stop_stops_the_session_on_its_engine_and_ends_the_stream(
    open_client: Any, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        engine, stream_id = await start_stream(client, auth)
        assert (await client.post(f"/streams/{stream_id}/stop")).status_code == 401
        stopped = (await client.post(f"/streams/{stream_id}/stop", headers=auth)).json()
        assert stopped["engine_confirmed"] is True
        assert (stopped["stream"]["status"], stopped["stream"]["end_reason"]) == ("ended", "stopped_by_api")
        # Asked at the address the supervisor reaches the engine on, not the proxy's "localhost".
        (url,) = probes.stop_calls
        assert url.endswith(f":{engine['host_http_port']}/ace/cmd/x/s1")
        again = (await client.post(f"/streams/{stream_id}/stop", headers=auth)).json()
        assert again["stream"]["end_reason"] == "stopped_by_api" and len(probes.stop_calls) == 1
        # The stopped stream stays in the history.
        assert (await client.get(f"/streams/{stream_id}")).json()["status"] == "ended"


async def test_delete_stops_the_stream_then_deletes_its_record(
    open_client: Any, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        engine, stream_id = await start_stream(client, auth)
        assert (await client.delete(f"/streams/{stream_id}")).status_code == 401
        stopped = (await client.delete(f"/streams/{stream_id}", headers=auth)).json()
        assert stopped["engine_confirmed"] is True and stopped["stream"]["end_reason"] == "stopped_by_api"
        (url,) = probes.stop_calls
        assert url.endswith(f":{engine['host_http_port']}/ace/cmd/x/s1")
        assert (await client.get(f"/streams/{stream_id}")).status_code == 404  # deleted
        ended = (await client.get("/events", params={"type": "stream_ended"})).json()
        assert any("stopped_by_api" in event["message"] for event in ended)  # the end stays logged
        assert (await client.get("/engines")).json()[0]["streams"] == []
        assert (await client.delete(f"/streams/{stream_id}", headers=auth)).status_code == 404


async def test_a_stream_whose_engine_does_not_answer_the_stop_is_ended_all_the_same(
    open_client: Any, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        engine, stream_id = await start_stream(client, auth)
        probes.silent.add(engine["host_http_port"])
        stopped = (await client.post(f"/streams/{stream_id}/stop", headers=auth)).json()
        assert stopped["engine_confirmed"] is False and stopped["stream"]["status"] == "ended"
        assert (await client.get("/engines", params={"all": "true"})).json()[0]["streams"] == []


async def test_the_stream_list_is_bounded_and_filtered(
    open_client: Any, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_replicas=10) as client:
        ids = []
        for n in range(3):
            _, stream_id = await start_stream(client, auth, session=f"s{n}")
            ids.append(stream_id)
            clock.advance(1)
        everything = [s["id"] for s in (await client.get("/streams")).json()]
        assert everything == ids
        assert [s["id"] for s in (await client.get("/streams", params={"limit": 2})).json()] == ids[1:]
        first_start = (await client.get(f"/streams/{ids[0]}")).json()["started_at"]
        since = (await client.get("/streams", params={"since": first_start})).json()
        assert [s["id"] for s in since] == ids[1:]
        assert [s["id"] for s in (await client.get("/streams", params={"key": "abc"})).json()] == ids
        assert (await client.get("/streams", params={"key": "other"})).json() == []
        for bad in ({"limit": 0}, {"limit": 1001}, {"since": "yesterday"}):
            answer = await client.get("/streams", params=bad)
            assert answer.status_code == 400, bad


def test_only_the_newest_ended_streams_are_kept_and_active_ones_never_dropped(tmp_path: Any) -> None:
    store = Store(tmp_path / "s.db")
    start = datetime(2026, 1, 1)
    for n in range(6):
        stream = Stream(
            f"s{n}", KeyType.content_id, "k", "engine", f"p{n}", "", "", True, start + timedelta(seconds=n)
        )
        if n < 5:
            stream.status, stream.ended_at = StreamStatus.ended, start + timedelta(seconds=10 + n)
        store.save_stream(stream)
    assert store.prune_ended_streams(keep=2) == 3
    assert [s.id for s in store.streams()] == ["s3", "s4", "s5"]
    store.close()
