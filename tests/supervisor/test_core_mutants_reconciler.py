"""The reconciler's observing and acting on the fake runtime (written against the mutants `just mutate` found
surviving): what each Docker event changes at once, which events ask for a pass, a waiting rule due in under
a second, the replacement cooldown across passes, the end reason of a removed engine's streams, orphans in a
VPN namespace, and what the event log says for each decision."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.core import labels as label
from supervisor.core.offer import CLAIM_S
from supervisor.core.reconcile import ORPHAN_SETTLE_S
from supervisor.provisioning import ProvisionRequest
from supervisor.reconciler import Reconciler
from supervisor.runtime.base import ContainerAction, ContainerEvent
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


async def settle() -> None:
    """Let every ready task run until it waits on the clock or an event again."""
    for _ in range(100):
        await asyncio.sleep(0)


async def offered(client: Any) -> list[str]:
    return [engine["container_id"] for engine in (await client.get("/engines")).json()]


async def every_engine(client: Any) -> dict[str, dict[str, Any]]:
    listed = (await client.get("/engines", params={"all": "true"})).json()
    return {engine["container_id"]: engine for engine in listed}


async def events(client: Any, **params: str) -> list[tuple[str, str | None, str]]:
    """(type, engine id, message), oldest first."""
    answer = (await client.get("/events", params=params)).json()
    return [(event["type"], event["engine_id"], event["message"]) for event in reversed(answer)]


def event(
    container_id: str, action: ContainerAction, health: str | None = None, **labels: str
) -> ContainerEvent:
    return ContainerEvent(container_id, action, None, labels, health)


async def test_die_and_start_events_withdraw_and_offer_the_engine_before_any_pass(open_client: Any) -> None:
    async with open_client("standalone", min=1) as client:
        reconciler = client.app.state.supervisor.reconciler
        (engine_id,) = await offered(client)
        reconciler.on_event(event(engine_id, ContainerAction.die))
        assert await offered(client) == []
        assert (await every_engine(client))[engine_id]["withdrawn"] == "container_stopped"
        reconciler.on_event(event(engine_id, ContainerAction.start))
        assert await offered(client) == [engine_id]
        await reconciler.tick()  # back within its restart window: kept
        assert await offered(client) == [engine_id]
        assert (await events(client, engine=engine_id))[-2:] == [
            ("engine_stopped", engine_id, "its container stopped: withdrawn"),
            ("engine_started", engine_id, "running again"),
        ]


async def test_only_an_unhealthy_health_status_withdraws_the_engine(open_client: Any) -> None:
    async with open_client("standalone", min=1) as client:
        reconciler = client.app.state.supervisor.reconciler
        (engine_id,) = await offered(client)
        reconciler.on_event(event(engine_id, ContainerAction.health_status, "healthy"))
        reconciler.on_event(event(engine_id, ContainerAction.health_status, "starting"))
        assert await offered(client) == [engine_id]
        reconciler.on_event(event(engine_id, ContainerAction.start, "unhealthy"))  # not a health event
        assert await offered(client) == [engine_id]
        reconciler.on_event(event(engine_id, ContainerAction.health_status, "unhealthy"))
        listed = (await every_engine(client))[engine_id]
        assert listed["withdrawn"] == "unhealthy" and listed["health_status"] == "unhealthy"


async def passes_after(client: Any, runtime: FakeRuntime, happening: ContainerEvent) -> tuple[bool, int]:
    """Whether a reconciler (a fresh one, running) makes a pass after this event, and how often it asked
    for the VPNs to be checked."""
    supervisor = client.app.state.supervisor
    vpn_checks: list[None] = []
    reconciler = Reconciler(
        supervisor.state,
        runtime,
        supervisor.store,
        supervisor.provisioner,
        on_vpn_event=lambda: vpn_checks.append(None),
    )
    assert reconciler.desired() == 0  # no pass yet
    running = asyncio.create_task(reconciler.run())
    try:
        await settle()
        reconciler.on_event(happening)
        await settle()
        return reconciler.desired() == 1, len(vpn_checks)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_events_of_containers_it_does_not_hold_ask_for_a_pass_only_when_they_matter(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("single", min=1) as client:
        gluetun = next(i for i in runtime.containers.values() if i.name.endswith("-gluetun-1"))
        compose_service = {label.COMPOSE_SERVICE: "gluetun"}
        assert await passes_after(
            client, runtime, event(gluetun.id, ContainerAction.die, **compose_service)
        ) == (
            True,
            1,
        )
        orphan = {label.ROLE: label.ENGINE_ROLE}
        assert await passes_after(client, runtime, event("f" * 64, ContainerAction.create, **orphan)) == (
            True,
            0,
        )
        other = {label.COMPOSE_SERVICE: "acexy"}
        assert await passes_after(client, runtime, event("e" * 64, ContainerAction.start, **other)) == (
            False,
            0,
        )


async def test_a_waiting_rule_due_in_half_a_second_gets_its_pass_then(
    open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    async with open_client("standalone", min=1, timings={"engine_restart_window_s": 0.5}) as client:
        reconciler = client.app.state.supervisor.reconciler
        (engine_id,) = await offered(client)
        running = asyncio.create_task(reconciler.run())
        try:
            await settle()
            runtime.kill(engine_id)
            reconciler.on_event(event(engine_id, ContainerAction.die))  # kicks: a pass, due again in 0.5 s
            await settle()
            assert reconciler.last_plan.wake_in == 0.5 and engine_id in runtime.containers
            clock.advance(0.5)
            await settle()
            assert engine_id not in runtime.containers  # replaced when its window ended, not a second later
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_unhealthy_engines_are_replaced_one_per_cooldown_across_passes(
    open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    async with open_client("standalone", min=2) as client:
        supervisor = client.app.state.supervisor
        timings = supervisor.config.stack.timings
        first, second = sorted(await offered(client))
        for engine_id in (first, second):
            supervisor.state.mark_unhealthy(supervisor.state.engines[engine_id])
        clock.advance(timings.health_unhealthy_grace_period_s)
        await supervisor.reconciler.tick()
        left = {first, second} & set(runtime.containers)
        assert len(left) == 1  # one replaced
        await supervisor.reconciler.tick()
        clock.advance(timings.health_replacement_cooldown_s - 1)
        await supervisor.reconciler.tick()
        assert left <= set(runtime.containers)  # the other waits for the cooldown
        clock.advance(1)
        await supervisor.reconciler.tick()
        assert not left & set(runtime.containers)
        removed = await events(client, type="engine_removed")
        assert [message for _, _, message in removed] == ["unhealthy past its grace period; replaced"] * 2


async def test_an_idle_removal_does_not_hold_back_an_unhealthy_replacement(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", min=1) as client:
        supervisor = client.app.state.supervisor
        timings = supervisor.config.stack.timings
        (idle,) = await offered(client)
        clock.advance(1)
        kept = (await client.post("/provision/acestream", headers=auth)).json()["container_id"]
        clock.advance(timings.engine_grace_period_s + 10)
        await supervisor.reconciler.tick()
        assert idle not in runtime.containers and kept in runtime.containers  # idle longest, beyond min
        supervisor.state.mark_unhealthy(supervisor.state.engines[kept])
        clock.advance(timings.health_unhealthy_grace_period_s)
        await supervisor.reconciler.tick()
        assert kept not in runtime.containers  # replaced at once: no replacement happened before it


async def test_a_stopped_engines_streams_end_as_engine_stopped(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", min=1) as client:
        supervisor = client.app.state.supervisor
        (engine_id,) = await offered(client)
        port = supervisor.state.engines[engine_id].host_http_port
        started = await client.post("/events/stream_started", json=started_event(port), headers=auth)
        assert started.status_code == 200
        runtime.kill(engine_id)
        supervisor.reconciler.on_event(event(engine_id, ContainerAction.die))
        clock.advance(supervisor.config.stack.timings.engine_restart_window_s)
        await supervisor.reconciler.tick()
        assert engine_id not in runtime.containers
        stream = supervisor.store.stream("abc|s1")
        assert stream is not None and (stream.status, stream.end_reason) == ("ended", "engine_stopped")


async def test_a_failed_creation_is_logged_and_tried_again_by_the_next_pass(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        runtime.fail_next_creates = 1
        supervisor.state.scale_target = 1
        await supervisor.reconciler.tick()  # the creation fails: the pass does not
        assert await offered(client) == []
        await supervisor.reconciler.tick()
        assert len(await offered(client)) == 1


async def test_a_creation_in_flight_counts_towards_the_desired_engines(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        runtime.create_delay = asyncio.Event()
        try:
            creation = asyncio.ensure_future(supervisor.provisioner.provision(ProvisionRequest()))
            supervisor.state.scale_target = 1
            passing = asyncio.create_task(supervisor.reconciler.tick())
            await settle()
            assert runtime.in_flight == 1  # one engine wanted, one on its way: the pass starts none
        finally:
            runtime.create_delay.set()
        await creation
        await passing
        assert len(supervisor.state.engines) == 1


async def test_a_withdrawn_engine_counts_as_busy_so_a_free_one_is_started_at_once(open_client: Any) -> None:
    async with open_client("standalone", min=1, min_free=1) as client:
        supervisor = client.app.state.supervisor
        (engine_id,) = await offered(client)
        supervisor.state.mark_unhealthy(supervisor.state.engines[engine_id])
        await supervisor.reconciler.tick()
        assert len(await offered(client)) == 1 and engine_id not in await offered(client)
        assert supervisor.reconciler.desired() == 2


async def test_standalone_engines_on_a_named_network_are_not_taken_for_drifted(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone", min=1, env={"network": "acestream_net"}) as client:
        supervisor = client.app.state.supervisor
        (engine_id,) = await offered(client)
        assert runtime.specs[engine_id].network == "acestream_net"
        await supervisor.reconciler.tick()
        assert await offered(client) == [engine_id]


def vpn_orphan_labels(port: int, container_id: str, started_at: str) -> dict[str, str]:
    return {
        **label.engine_selector("acestream-single"),
        label.COMPOSE_PROJECT: "acestream-single",
        label.HOST_HTTP_PORT: str(port),
        label.VPN: "gluetun",
        label.VPN_CONTAINER_ID: container_id,
        label.VPN_STARTED_AT: started_at,
    }


async def test_vpn_orphans_are_adopted_only_in_their_gluetuns_current_namespace(
    open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        gluetun = next(i for i in runtime.containers.values() if i.name.endswith("-gluetun-1"))
        assert gluetun.started_at == "t1"
        ok = runtime.add("ok", vpn_orphan_labels(40000, gluetun.id, "t1"))
        replaced = runtime.add("replaced", vpn_orphan_labels(40001, "0" * 64, "t1"))
        restarted = runtime.add("restarted", vpn_orphan_labels(40002, gluetun.id, "t0"))
        debris = runtime.add("debris", vpn_orphan_labels(40003, gluetun.id, "t1"), never_started=True)
        await supervisor.reconciler.tick()
        clock.advance(ORPHAN_SETTLE_S)
        await supervisor.reconciler.tick()
        assert ok in runtime.containers and not {replaced, restarted, debris} & set(runtime.containers)
        assert (await every_engine(client))[ok]["phase"] == "starting"  # judged like a new engine
        await supervisor.readiness.tick()
        assert (await every_engine(client))[ok]["phase"] == "ready"
        assert ("engine_adopted", ok, "orphan found running on port 40000") in await events(client, engine=ok)
        assert sorted(message for _, _, message in await events(client, type="orphan_removed")) == [
            "debris: created by an interrupted provision, never started",
            "replaced: not held by this supervisor and its VPN namespace is gone",
            "restarted: not held by this supervisor and its VPN namespace is gone",
        ]


async def test_a_drifted_engine_drains_with_an_event_naming_it(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        made = (await client.post("/provision/acestream", headers=auth)).json()
        event_body = started_event(made["host_http_port"], session="s1")
        assert (await client.post("/events/stream_started", json=event_body, headers=auth)).status_code == 200
    async with open_client("standalone", image="engine:v2") as client:
        engine_id = made["container_id"]
        assert (
            "engine_draining",
            engine_id,
            "draining: its spec differs from what the current settings create",
        ) in (await events(client, engine=engine_id))
        assert await events(client, type="failover") == []


async def test_a_vpn_restart_is_logged_with_how_long_it_was_down(
    open_client: Any, runtime: FakeRuntime, probes: Any, clock: Any
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        probes.vpn_status = "stopped"
        await supervisor.vpn.tick()
        clock.advance(supervisor.config.stack.timings.vpn_restart_timeout_s)
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert await events(client, type="vpn_restarted") == [
            ("vpn_restarted", None, "VPN gluetun down for 60s; restarted")
        ]


async def test_after_a_broken_event_stream_it_listens_again_a_moment_later(
    open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    async with open_client("standalone", min=1) as client:
        reconciler = client.app.state.supervisor.reconciler
        (engine_id,) = await offered(client)
        watching = asyncio.create_task(reconciler.watch())
        try:
            await settle()
            runtime.break_event_streams()
            await settle()
            health = (await client.get("/health/status")).json()
            assert (health["docker_reachable"], health["docker_failure"]) == (
                False,
                "the Docker event stream broke",
            )
            clock.advance(1)  # DOCKER_RECHECK_S
            await settle()
            runtime.kill(engine_id)  # its die event reaches the new stream
            await settle()
            assert await offered(client) == []
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)


async def test_a_pass_on_a_daemon_that_does_not_answer_judges_nothing_and_says_why(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone", min=1) as client:
        reconciler = client.app.state.supervisor.reconciler
        (engine_id,) = await offered(client)
        before = reconciler.last_plan
        runtime.daemon_down = True
        assert await reconciler.tick() is before  # nothing judged on a listing that did not come
        assert await offered(client) == [engine_id]
        health = (await client.get("/health/status")).json()
        assert health["docker_reachable"] is False
        assert health["docker_failure"] == "cannot reach the Docker daemon: Connection refused"
        runtime.daemon_down = False
        await reconciler.tick()
        health = (await client.get("/health/status")).json()
        assert (health["docker_reachable"], health["docker_failure"]) == (True, None)


async def test_a_listing_older_than_a_start_event_does_not_take_the_engine_down_again(
    open_client: Any, runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client("standalone", min=1) as client:
        reconciler = client.app.state.supervisor.reconciler
        (engine_id,) = await offered(client)
        runtime.kill(engine_id)
        reconciler.on_event(event(engine_id, ContainerAction.die))
        gate = asyncio.Event()
        real_list = runtime.list

        async def stale_list(labels: dict[str, str]) -> Any:
            answer = await real_list(labels)  # Docker answers while the engine is still stopped...
            await gate.wait()  # ...and the answer reaches us after it started again
            return answer

        monkeypatch.setattr(runtime, "list", stale_list)
        passing = asyncio.create_task(reconciler.tick())
        await settle()
        runtime.start(engine_id)
        reconciler.on_event(event(engine_id, ContainerAction.start))
        gate.set()
        await passing
        assert await offered(client) == [engine_id]  # the start event is newer than the listing


async def test_without_events_the_listing_says_when_an_engine_stops_and_runs_again(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone", min=1) as client:  # no event stream is followed
        reconciler = client.app.state.supervisor.reconciler
        (engine_id,) = await offered(client)
        runtime.kill(engine_id)
        await reconciler.tick()
        assert await offered(client) == []
        runtime.start(engine_id)
        await reconciler.tick()
        assert await offered(client) == [engine_id]
        kinds = [kind for kind, _, _ in await events(client, engine=engine_id)]
        assert kinds[-2:] == ["engine_stopped", "engine_started"]


async def test_after_a_broken_event_stream_the_listing_is_believed_again(
    open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    async with open_client("standalone", min=1) as client:
        reconciler = client.app.state.supervisor.reconciler
        (engine_id,) = await offered(client)
        watching = asyncio.create_task(reconciler.watch())
        try:
            await settle()
            runtime.kill(engine_id)  # its die event arrives
            await settle()
            assert await offered(client) == []
            runtime.break_event_streams()
            await settle()
            runtime.start(engine_id)  # while nobody listens: its start event is lost
            await reconciler.tick()
            assert await offered(client) == [engine_id]
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)


async def test_a_removal_in_flight_still_counts_against_max(
    open_client: Any, runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client("standalone", min=2, max_replicas=2) as client:
        supervisor = client.app.state.supervisor
        first, _ = await offered(client)
        gate = asyncio.Event()
        real_remove = runtime.stop_and_remove

        async def slow_remove(container_id: str) -> None:
            if container_id == first:  # only this removal is held
                await gate.wait()
            await real_remove(container_id)

        monkeypatch.setattr(runtime, "stop_and_remove", slow_remove)
        removing = asyncio.create_task(client.delete(f"/engines/{first}", headers=auth_header(client)))
        await settle()
        assert supervisor.state.removing == 1
        await supervisor.reconciler.tick()  # one engine short of min, but the removed one still runs
        assert len(runtime.specs) == 2 and first in runtime.containers
        gate.set()
        assert (await removing).status_code == 200
        await supervisor.reconciler.tick()
        assert len(await offered(client)) == 2 and first not in runtime.containers


def auth_header(client: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.app.state.supervisor.config.api_key}"}


async def test_a_pass_returns_once_the_engines_it_could_start_run(open_client: Any) -> None:
    async with open_client("standalone", size=2) as client:
        supervisor = client.app.state.supervisor
        supervisor.state.scale_target = 3  # one more than there are ports
        await supervisor.reconciler.tick()
        assert len(supervisor.state.engines) == 2 and supervisor.state.pending == 0


async def test_an_engine_handed_to_a_client_is_not_removed_as_idle_before_its_claim_ends(
    open_client: Any, runtime: FakeRuntime, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", timings={"engine_grace_period_s": 0}) as client:
        supervisor = client.app.state.supervisor
        made = (await client.post("/provision/acestream", headers=auth)).json()["container_id"]
        await supervisor.reconciler.tick()
        assert made in runtime.containers  # its client's stream is on its way
        clock.advance(CLAIM_S)
        await supervisor.reconciler.tick()
        assert made not in runtime.containers  # the claim ended with no stream: idle, beyond min
