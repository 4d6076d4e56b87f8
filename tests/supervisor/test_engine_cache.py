"""The engine cache policy through the API on the fake runtime: engines are made with their cap, `/engines`
shows each engine's measured disk use, an idle engine over the cap is replaced and a busy one is not, the
measure runs on its own interval (never on a request), and the metrics show both."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.core import reconcile as rc
from supervisor.core.clock import ManualClock
from supervisor.core.environment import CACHE_MOUNT
from supervisor.runtime.fake import FakeRuntime
from supervisor.stack_settings import GIB, MIB

pytestmark = pytest.mark.anyio


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def listed(client: Any) -> dict[str, dict[str, Any]]:
    return {e["container_id"]: e for e in (await client.get("/engines", params={"all": "true"})).json()}


async def test_engines_show_their_disk_use_and_when_the_engine_pruned_it(
    open_client: Any, runtime: FakeRuntime, clock: ManualClock, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        made = (await client.post("/provision/acestream", headers=auth)).json()
        engine_id = made["container_id"]
        engine = (await listed(client))[engine_id]
        assert engine["cache_size_bytes"] is None and engine["last_cache_cleanup"] is None
        runtime.disk_use[engine_id] = 300 * MIB
        for _ in range(5):  # reads are served from memory: no request asks Docker for sizes
            assert (await client.get("/engines")).status_code == 200
            assert (await client.get(f"/engines/{engine_id}")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
        assert runtime.disk_usage_calls == 0
        await supervisor.cache.tick()
        engine = (await listed(client))[engine_id]
        assert engine["cache_size_bytes"] == 300 * MIB and engine["last_cache_cleanup"] is None
        clock.advance(60)
        runtime.disk_use[engine_id] = 100 * MIB  # the engine pruned its cache under --cache-limit
        await supervisor.cache.tick()
        engine = (await client.get(f"/engines/{engine_id}")).json()["engine"]
        assert engine["cache_size_bytes"] == 100 * MIB
        assert engine["last_cache_cleanup"] == clock.now().isoformat().replace("+00:00", "Z")
        metrics = (await client.get("/metrics")).text
        name = made["container_name"]
        assert f'ace_supervisor_engine_cache_bytes{{engine="{name}",vpn="host"}} 1.048576e+08' in metrics
        assert "ace_supervisor_engine_cache_limit_bytes 4.294967296e+09" in metrics
        assert 'ace_supervisor_engine_cache_cleanups_total{by="engine"} 1.0' in metrics
        assert "ace_supervisor_cache_check_duration_seconds" in metrics
        assert engine_id in runtime.containers  # under the cap: left alone


async def test_an_idle_engine_over_its_cap_is_replaced_and_a_busy_one_keeps_its_stream(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", min=2) as client:
        supervisor = client.app.state.supervisor
        engines = await listed(client)
        assert len(engines) == 2  # the first pass made the minimum
        busy, idle = sorted(engines.values(), key=lambda e: e["port"])
        event = started_event(busy["port"], session="s1")
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        for engine in (busy, idle):
            runtime.disk_use[engine["container_id"]] = 5 * GIB  # past the default 4GiB cap
        await supervisor.cache.tick()
        await supervisor.reconciler.tick()

        assert idle["container_id"] not in runtime.containers
        assert busy["container_id"] in runtime.containers
        after = await listed(client)
        assert after[busy["container_id"]]["withdrawn"] == "draining"  # offered to no new viewer
        (replacement,) = [e for e in after.values() if e["container_id"] != busy["container_id"]]
        assert replacement["cache_size_bytes"] is None  # a fresh container: nothing cached yet
        streams = (await client.get("/streams", params={"status": "started"})).json()
        assert [s["container_id"] for s in streams] == [busy["container_id"]]
        removed = (await client.get("/events", params={"type": "engine_removed"})).json()
        assert [e["engine_id"] for e in removed] == [idle["container_id"]]
        assert "its disk use passed engine.cache.limit" in removed[0]["message"]
        metrics = (await client.get("/metrics")).text
        assert 'ace_supervisor_engine_cache_cleanups_total{by="replacement"} 1.0' in metrics

        await client.post("/events/stream_ended", json={"stream_id": "abc|s1"}, headers=auth)
        await supervisor.reconciler.tick()
        assert busy["container_id"] not in runtime.containers  # idle now: replaced in its turn
        metrics = (await client.get("/metrics")).text
        assert 'ace_supervisor_engine_cache_cleanups_total{by="replacement"} 2.0' in metrics
        assert len(await listed(client)) == 2


async def test_engines_under_the_cap_stay_and_a_silent_daemon_changes_nothing(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", cache={"mode": "memory", "limit": "64MiB"}) as client:
        supervisor = client.app.state.supervisor
        made = (await client.post("/provision/acestream", headers=auth)).json()
        runtime.disk_use[made["container_id"]] = 64 * MIB  # at the cap, not past it
        await supervisor.cache.tick()
        await supervisor.reconciler.tick()
        assert made["container_id"] in runtime.containers
        runtime.disk_use[made["container_id"]] = 65 * MIB
        runtime.daemon_down = True
        await supervisor.cache.tick()  # no answer: nothing measured, nothing judged, no exception
        runtime.daemon_down = False
        assert (await listed(client))[made["container_id"]]["cache_size_bytes"] == 64 * MIB
        await supervisor.cache.tick()
        await supervisor.reconciler.tick()
        assert made["container_id"] not in runtime.containers


@pytest.mark.parametrize("mode", ["standalone", "single"])
async def test_a_provisioned_engine_carries_its_cap_the_way_its_image_takes_it(
    mode: str, open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client(mode, cache={"mode": "tmpfs", "limit": "1.5GiB"}) as client:
        made = (await client.post("/provision/acestream", headers=auth)).json()
        spec = runtime.specs[made["container_id"]]
        assert spec.tmpfs == {CACHE_MOUNT: f"size={3 * GIB // 2},mode=1777"}
        lines = spec.environment["CONF"].splitlines()
        assert lines[3:] == [f"--cache-dir={CACHE_MOUNT}", "--cache-limit=1"]


async def test_a_changed_cache_policy_replaces_engines_made_under_the_old_one_when_idle(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        old = (await client.post("/provision/acestream", headers=auth)).json()
    async with open_client("standalone", cache={"mode": "memory", "limit": "256MiB"}) as client:
        assert old["container_id"] not in runtime.containers  # the start-up pass: drifted and idle
        draining = (await client.get("/events", params={"type": "engine_removed"})).json()
        assert any("differs from what the current settings create" in e["message"] for e in draining)
        new = (await client.post("/provision/acestream", headers=auth)).json()
        conf = runtime.specs[new["container_id"]].environment["CONF"]
        assert "--live-mem-cache-size=268435456" in conf.splitlines()


async def test_the_cache_pass_runs_at_start_and_then_on_its_own_interval(
    open_client: Any, runtime: FakeRuntime, clock: ManualClock
) -> None:
    async with open_client("standalone", loops=True, timings={"cache_check_interval_s": 120}) as client:
        await settle()
        assert runtime.disk_usage_calls == 1  # the first pass, in the background at start-up
        for _ in range(10):
            await client.get("/engines")
        clock.advance(119)
        await settle()
        assert runtime.disk_usage_calls == 1
        clock.advance(1)
        await settle()
        assert runtime.disk_usage_calls == 2


async def test_an_engine_that_got_a_stream_after_the_pass_judged_it_keeps_it(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    """The removal is planned on a snapshot; a stream_started landing before it runs wins."""
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        made = (await client.post("/provision/acestream", headers=auth)).json()
        runtime.disk_use[made["container_id"]] = 5 * GIB
        await supervisor.cache.tick()
        engine_id = made["container_id"]
        # A pass as it runs, the stream landing between its snapshot and its actions.
        listing = {engine_id: runtime.containers[engine_id]}
        planned = rc.plan(supervisor.reconciler._snapshot({engine_id}, listing, set()))
        assert rc.Remove(made["container_id"], rc.DrainReason.cache_over_cap) in planned.actions
        event = started_event(made["host_http_port"], session="late")
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        await supervisor.reconciler._act(planned, {})
        assert made["container_id"] in runtime.containers
        await supervisor.reconciler.tick()  # judged again: it serves now, so it drains
        assert (await listed(client))[made["container_id"]]["withdrawn"] == "draining"
