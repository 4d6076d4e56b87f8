"""Standby engines on the fake runtime: containers created and never started, so that a cold provision
only starts one; each replaced when it would start a drifted engine, held again across a restart, never
counted against `max`, and never taken for the debris of an interrupted creation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from supervisor.core import labels as label
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


def standbys(runtime: FakeRuntime) -> list[str]:
    """Containers Docker holds created and never started, labelled as standbys."""
    return [
        info.id
        for info in runtime.containers.values()
        if info.never_started and info.labels.get(label.STANDBY) == "true"
    ]


async def test_a_cold_provision_starts_the_standby_and_a_successor_is_created(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
        assert (await client.get("/engines", params={"all": "true"})).json() == []  # not an engine
        status = (await client.get("/orchestrator/status")).json()
        assert status["standby"] == {"wanted": 1, "ready": 1}
        metrics = (await client.get("/metrics")).text
        assert 'ace_supervisor_standby_engines{vpn="host"} 1.0' in metrics
        made = (await client.post("/provision/acestream", headers=auth)).json()
        assert made["container_id"] == standby  # started, not created
        assert runtime.starts == [standby] and runtime.containers[standby].running
        assert made["host_http_port"] == int(runtime.containers[standby].labels[label.HOST_HTTP_PORT])
        await supervisor.reconciler.tick()  # the successor, in the background of the next pass
        (successor,) = standbys(runtime)
        assert successor != standby
        ports = {int(runtime.containers[i].labels[label.HOST_HTTP_PORT]) for i in (standby, successor)}
        assert len(ports) == 2  # never one port twice
        kinds = [e["type"] for e in (await client.get("/events")).json()]
        assert kinds.count("standby_created") == 2
        (created,) = [e for e in (await client.get("/events", params={"type": "engine_created"})).json()]
        assert "from its standby" in created["message"]


async def test_a_provision_with_labels_or_env_creates_its_own_engine(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1) as client:
        await client.app.state.supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
        made = (await client.post("/provision/acestream", json={"labels": {"a": "b"}}, headers=auth)).json()
        assert made["container_id"] != standby and runtime.starts == []
        assert runtime.containers[made["container_id"]].labels["a"] == "b"
        assert standbys(runtime) == [standby]  # kept for the next plain provision


async def test_standbys_never_count_against_max_and_are_kept_only_while_a_start_would_fit(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=2, max_replicas=2) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        assert len(standbys(runtime)) == 2
        status = (await client.get("/orchestrator/status")).json()
        assert status["capacity"]["total"] == 0 and status["provisioning"]["can_provision"] is True
        for _ in range(2):  # both started: max reached, and no standby is made beyond it
            assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
            supervisor.state.engines[next(reversed(supervisor.state.engines))].claimed_until = 0
            await supervisor.reconciler.tick()
        assert standbys(runtime) == [] and len(supervisor.state.engines) == 2
        refused = await client.post("/provision/acestream", json={"labels": {"x": "y"}}, headers=auth)
        assert refused.status_code == 503 and refused.json()["detail"]["code"] == "max_capacity"


async def test_a_standby_holding_the_last_free_port_makes_way_for_a_labelled_provision(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    """Ports for two engines, max 2, one standby: the standby's slot is the second engine's either way."""
    async with open_client("standalone", standby=1, max_replicas=2, size=2) as client:
        supervisor = client.app.state.supervisor
        first = (await client.post("/provision/acestream", json={"labels": {"a": "1"}}, headers=auth)).json()
        await supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
        port = int(runtime.containers[standby].labels[label.HOST_HTTP_PORT])
        second = await client.post("/provision/acestream", json={"labels": {"a": "2"}}, headers=auth)
        assert second.status_code == 200, second.text  # not refused while status says it can provision
        made = second.json()
        assert made["host_http_port"] == port != first["host_http_port"]
        assert standby not in runtime.containers
        assert runtime.containers[made["container_id"]].labels["a"] == "2"
        (removed,) = (await client.get("/events", params={"type": "standby_removed"})).json()
        assert "port was needed" in removed["message"]
        await supervisor.reconciler.tick()
        assert standbys(runtime) == []  # max reached: no room for another


async def test_a_plain_provision_starts_the_standby_holding_the_last_free_port(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1, max_replicas=2, size=2) as client:
        supervisor = client.app.state.supervisor
        first = (await client.post("/provision/acestream", json={"labels": {"a": "1"}}, headers=auth)).json()
        await supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
        plain = (await client.post("/provision/acestream", headers=auth)).json()
        assert plain["container_id"] == standby and plain["host_http_port"] != first["host_http_port"]


async def test_a_stale_standby_is_replaced_by_one_of_the_current_image(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.image.tick()
        await supervisor.reconciler.tick()
        (old,) = standbys(runtime)
        runtime.registry["engine:test"] = "sha256:" + "c" * 64  # a newer image behind the same tag
        await supervisor.image.tick()
        await supervisor.reconciler.tick()
        (new,) = standbys(runtime)
        assert old not in runtime.containers and runtime.containers[new].image_id == "sha256:" + "c" * 64
        (removed,) = (await client.get("/events", params={"type": "standby_removed"})).json()
        assert "older image" in removed["message"]


async def test_a_standby_whose_settings_changed_is_replaced(open_client: Any, runtime: FakeRuntime) -> None:
    async with open_client("standalone", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        (old,) = standbys(runtime)
        stack = supervisor.config.stack
        engine = stack.engine.model_copy(update={"port_style": "extra_flags"})  # another engine spec
        supervisor.state.config = dataclasses.replace(
            supervisor.config, stack=stack.model_copy(update={"engine": engine})
        )
        await supervisor.reconciler.tick()
        (new,) = standbys(runtime)
        assert new != old and old not in runtime.containers


async def test_a_standby_behind_a_restarted_vpn_is_replaced(open_client: Any, runtime: FakeRuntime) -> None:
    async with open_client("single", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        (old,) = standbys(runtime)
        gluetun = supervisor.state.vpns["gluetun"].container_id
        runtime.restart_behind(gluetun)  # a new namespace: a standby made in the old one has no network
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        (new,) = standbys(runtime)
        assert new != old and old not in runtime.containers
        assert runtime.specs[new].network_mode == f"container:{gluetun}"


async def test_a_vpn_that_wants_its_forwarded_engine_creates_it_instead_of_starting_a_standby(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("single", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
        assert runtime.containers[standby].labels[label.FORWARDED] == "false"
        made = (await client.post("/provision/acestream", headers=auth)).json()
        assert made["container_id"] != standby
        assert runtime.containers[made["container_id"]].labels[label.FORWARDED] == "true"
        again = (await client.post("/provision/acestream", headers=auth)).json()
        assert again["container_id"] == standby  # the forwarded engine exists: the standby is next


async def test_a_restarted_supervisor_holds_its_standby_again_instead_of_removing_it(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1) as client:
        await client.app.state.supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
    async with open_client("standalone", standby=1) as client:
        supervisor = client.app.state.supervisor
        assert list(supervisor.state.standbys) == [standby]
        await supervisor.reconciler.tick()
        assert standbys(runtime) == [standby]  # the same container: neither removed nor doubled
        made = (await client.post("/provision/acestream", headers=auth)).json()
        assert made["container_id"] == standby


async def test_a_never_started_container_without_the_standby_label_is_still_removed_at_start_up(
    open_client: Any, runtime: FakeRuntime
) -> None:
    stack = "acestream-standalone"
    debris = runtime.add(
        "debris",
        {**label.engine_selector(stack), label.HOST_HTTP_PORT: "19003"},
        running=False,
        never_started=True,
    )
    async with open_client("standalone", standby=1) as client:
        assert debris not in runtime.containers
        assert debris not in client.app.state.supervisor.state.standbys  # unlabelled: not held as one


async def test_a_standby_that_fails_to_start_is_removed_and_the_provision_fails_cleanly(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
        runtime.fail_next_starts = 1
        answer = await client.post("/provision/acestream", headers=auth)
        assert answer.status_code == 503 and "injected failure" in answer.text  # as any failed start
        assert standby not in runtime.containers  # nothing left behind
        assert supervisor.state.pool.used(None) == 0 and supervisor.state.pending == 0
        await supervisor.reconciler.tick()
        assert len(standbys(runtime)) == 1  # a fresh one
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200


async def test_a_standby_started_behind_the_supervisors_back_is_adopted_as_an_engine(
    open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    async with open_client("standalone", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
        runtime.start(standby)  # docker start by hand
        await supervisor.reconciler.tick()  # an engine of ours now, on the port it held
        assert standby not in supervisor.state.standbys and standby in supervisor.state.engines
        (successor,) = standbys(runtime)
        ports = {runtime.containers[i].labels[label.HOST_HTTP_PORT] for i in (standby, successor)}
        assert len(ports) == 2  # the successor never takes the started one's port
        (adopted,) = (await client.get("/events", params={"type": "engine_adopted"})).json()
        assert "standby started by somebody else" in adopted["message"]


async def test_a_cold_acquire_starts_the_standby(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1) as client:
        await client.app.state.supervisor.reconciler.tick()
        (standby,) = standbys(runtime)
        body = {"key_type": "content_id", "key": "a" * 40}
        answer = await client.post("/engines/acquire", json=body, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["container_id"] == standby and runtime.starts == [standby]


async def test_a_provision_before_the_reconciler_replaced_a_stale_standby_never_starts_it(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.image.tick()
        await supervisor.reconciler.tick()
        (old,) = standbys(runtime)
        runtime.registry["engine:test"] = "sha256:" + "d" * 64
        await supervisor.image.tick()  # a newer image; no reconcile pass yet
        made = (await client.post("/provision/acestream", headers=auth)).json()
        assert made["container_id"] != old and runtime.starts == []  # created fresh from the new image
        assert runtime.containers[made["container_id"]].image_id == "sha256:" + "d" * 64


async def test_a_stale_standby_on_the_last_free_port_makes_way_for_a_fresh_engine(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1, max_replicas=2, size=2) as client:
        supervisor = client.app.state.supervisor
        await supervisor.image.tick()
        await client.post("/provision/acestream", json={"labels": {"a": "1"}}, headers=auth)
        await supervisor.reconciler.tick()
        (old,) = standbys(runtime)
        runtime.registry["engine:test"] = "sha256:" + "e" * 64
        await supervisor.image.tick()
        made = await client.post("/provision/acestream", headers=auth)
        assert made.status_code == 200, made.text
        assert made.json()["container_id"] != old and old not in runtime.containers
        assert runtime.containers[made.json()["container_id"]].image_id == "sha256:" + "e" * 64


async def test_a_paused_standby_is_started_once_frozen_when_up_and_only_thawed_by_a_provision(
    open_client: Any, runtime: FakeRuntime, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", standby=1, standby_mode="paused") as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        (standby,) = [i for i, info in runtime.containers.items() if info.paused]
        assert runtime.starts == [standby] and runtime.pauses == [standby]  # it answered, then froze
        port = int(runtime.containers[standby].labels[label.HOST_HTTP_PORT])
        assert ("127.0.0.1", port) in probes.engine_calls or any(p == port for _, p in probes.engine_calls)
        assert (await client.get("/orchestrator/status")).json()["standby"] == {"wanted": 1, "ready": 1}
        await supervisor.reconciler.tick()  # Docker lists it paused: still a standby, not an engine
        assert standby in supervisor.state.standbys and supervisor.state.engines == {}
        made = (await client.post("/provision/acestream", headers=auth)).json()
        assert made["container_id"] == standby and runtime.unpauses == [standby]
        assert runtime.starts == [standby]  # thawed, not started again
        (created,) = (await client.get("/events", params={"type": "engine_created"})).json()
        assert "paused standby" in created["message"]


async def test_a_paused_standby_whose_engine_never_answers_is_removed(
    open_client: Any, runtime: FakeRuntime, probes: Any, clock: Any
) -> None:
    probes.silent.update(range(19000, 19020))
    timings = {"startup_timeout_s": 0.3}
    async with open_client("standalone", standby=1, standby_mode="paused", timings=timings) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        assert supervisor.state.standbys == {} and runtime.pauses == []
        assert all(not info.labels.get(label.STANDBY) for info in runtime.containers.values())
        assert supervisor.state.pool.used(None) == 0  # its port is free again


async def test_standbys_of_the_other_mode_are_replaced_when_the_mode_changes(
    open_client: Any, runtime: FakeRuntime
) -> None:
    async with open_client("standalone", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        (created,) = standbys(runtime)
        stack = supervisor.config.stack
        replicas = stack.replicas.model_copy(update={"standby_mode": "paused"})
        supervisor.state.config = dataclasses.replace(
            supervisor.config, stack=stack.model_copy(update={"replicas": replicas})
        )
        await supervisor.reconciler.tick()
        assert created not in runtime.containers
        await supervisor.reconciler.tick()
        assert [i for i, info in runtime.containers.items() if info.paused] != []
