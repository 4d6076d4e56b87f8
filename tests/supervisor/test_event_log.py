"""Every decision lands in the event log with its reason, served newest first at GET /events with
limit, since, type and engine filters; the log keeps the newest EVENT_RETENTION events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.core.events import EVENT_RETENTION, EventType
from supervisor.runtime.fake import FakeRuntime
from supervisor.store import Store

pytestmark = pytest.mark.anyio


async def test_an_engines_life_is_in_the_log_newest_first(
    open_client: Any, runtime: FakeRuntime, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        event = started_event(engine["host_http_port"], session="s1")
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        probes.vpn_status = "stopped"
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        probes.vpn_status = "running"
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert (await client.delete(f"/engines/{engine['container_id']}", headers=auth)).status_code == 200
        log = (await client.get("/events")).json()
        assert [e["type"] for e in log] == [
            "engine_removed",
            "stream_ended",
            "vpn_up",
            "vpn_down",
            "stream_started",
            "engine_created",
            "vpn_up",  # at start-up: the VPN's first check found it running
        ]
        assert (
            log[0]["message"] == "removed through the API" and log[0]["engine_id"] == engine["container_id"]
        )
        assert log[1]["message"] == "abc|s1: engine_removed"
        mine = await client.get(
            "/events", params={"engine": engine["container_name"], "type": "stream_started"}
        )
        assert [e["type"] for e in mine.json()] == ["stream_started"]
        assert len((await client.get("/events", params={"limit": 2})).json()) == 2
        assert (await client.get("/events", params={"since": log[0]["at"]})).json() == []  # strictly after
        everything = (await client.get("/events", params={"since": "2000-01-01T00:00:00Z"})).json()
        assert len(everything) == len(log)
        assert (await client.get("/events", params={"limit": 0})).status_code == 400
        assert (await client.get("/events", params={"type": "nope"})).status_code == 400


async def test_the_breaker_opening_and_closing_is_logged(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        threshold = supervisor.config.stack.timings.circuit_breaker_failure_threshold
        runtime.fail_next_creates = threshold
        for _ in range(threshold):
            await client.post("/provision/acestream", headers=auth)
        clock.advance(supervisor.config.stack.timings.circuit_breaker_recovery_timeout_s)
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
        await supervisor.readiness.tick()  # the trial engine answers: the breaker closes
        kinds = [e["type"] for e in (await client.get("/events")).json()]
        assert kinds[:3] == ["breaker_closed", "engine_created", "breaker_opened"]


def test_the_log_keeps_the_newest_events() -> None:
    store = Store(":memory:")
    at = datetime(2026, 12, 3, tzinfo=UTC)
    for index in range(EVENT_RETENTION + 250):
        store.record_event(EventType.vpn_down, f"event {index}", at)
    kept = store.events(limit=EVENT_RETENTION * 2)
    assert EVENT_RETENTION <= len(kept) < EVENT_RETENTION + 100
    assert kept[0].message == f"event {EVENT_RETENTION + 249}"
