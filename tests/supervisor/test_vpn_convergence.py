"""The VPN pass is level-triggered: each tick compares every engine with its gluetun as it is now, and
follows the forwarded port, so a failed removal is retried and nothing new is taken for stranded."""

from __future__ import annotations

from typing import Any

import pytest
from acexy_events import started_event

from supervisor.core import labels as label
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


def _gluetun(runtime: FakeRuntime) -> Any:
    return next(info for info in runtime.containers.values() if info.name.endswith("-gluetun-1"))


async def test_a_stranded_engine_whose_removal_failed_is_removed_on_the_next_pass(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        old = (await client.post("/provision/acestream", headers=auth)).json()
        runtime.restart_behind(_gluetun(runtime).id)
        runtime.fail_next_removes = 1
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert old["container_id"] in runtime.containers  # Docker refused the removal this time
        fresh = (await client.post("/provision/acestream", headers=auth)).json()  # in the new namespace
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert old["container_id"] not in runtime.containers  # retried, and done
        assert fresh["container_id"] in runtime.containers  # made after the restart: not stranded
        assert [e["container_id"] for e in (await client.get("/engines")).json()] == [fresh["container_id"]]


async def test_a_changed_forwarded_port_moves_to_a_new_engine(
    open_client: Any, runtime: FakeRuntime, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        idle = (await client.post("/provision/acestream", headers=auth)).json()
        other = (await client.post("/provision/acestream", headers=auth)).json()
        assert runtime.specs[idle["container_id"]].labels[label.P2P_PORT] == "5914"
        probes.forwarded_port = 6001
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        assert idle["container_id"] not in runtime.containers  # idle: replaced at once
        successor = (await client.post("/provision/acestream", headers=auth)).json()
        assert runtime.specs[successor["container_id"]].labels[label.P2P_PORT] == "6001"
        engines = {e["container_id"]: e for e in (await client.get("/engines")).json()}
        assert engines[successor["container_id"]]["forwarded"] is True
        assert engines[other["container_id"]]["forwarded"] is False
        changed = (await client.get("/events", params={"type": "forwarded_port_changed"})).json()
        assert [e["engine_id"] for e in changed] == [idle["container_id"]]


async def test_a_forwarded_engine_with_streams_keeps_serving_when_the_port_changes(
    open_client: Any, runtime: FakeRuntime, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        event = started_event(engine["host_http_port"], session="s1")
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        probes.forwarded_port = 6001
        await supervisor.vpn.tick()
        await supervisor.reconciler.tick()
        await supervisor.vpn.tick()  # idempotent: a second pass changes nothing more
        await supervisor.reconciler.tick()
        assert engine["container_id"] in runtime.containers  # it carries a stream: never cut
        assert (await client.get("/engines")).json() == []  # it drains: offered to no new viewer
        (listed,) = (await client.get("/engines", params={"all": "true"})).json()
        assert listed["forwarded"] is False and listed["withdrawn"] == "draining"
        nxt = (await client.post("/provision/acestream", headers=auth)).json()
        assert runtime.specs[nxt["container_id"]].labels[label.P2P_PORT] == "6001"
