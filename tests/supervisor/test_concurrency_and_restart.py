"""100 concurrent provisions against max=20, and a restart that adopts what runs (real SQLite file)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervisor.core import labels as label
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["standalone", "redundant"])
async def test_100_concurrent_provisions_start_exactly_max_engines_on_distinct_ports(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str], mode: str
) -> None:
    async with open_client(mode, max_replicas=20, size=30) as client:
        runtime.create_delay = asyncio.Event()
        requests = [
            asyncio.ensure_future(client.post("/provision/acestream", headers=auth)) for _ in range(100)
        ]
        for _ in range(1000):  # let every request reach the supervisor while creations are held
            await asyncio.sleep(0)
            if sum(request.done() for request in requests) == 80:
                break
        runtime.create_delay.set()
        answers = await asyncio.gather(*requests)
        accepted = [answer.json() for answer in answers if answer.status_code == 200]
        refused = [answer.json() for answer in answers if answer.status_code != 200]
        assert len(accepted) == 20 and len(refused) == 80
        assert all(answer["detail"]["code"] == "max_capacity" for answer in refused)
        assert len({engine["host_http_port"] for engine in accepted}) == 20
        assert len((await client.get("/engines")).json()) == 20
        engines = [info for info in runtime.containers.values() if info.labels.get(label.ROLE) == "engine"]
        assert len(engines) == 20
        assert 1 < runtime.max_in_flight <= 8  # concurrent, and bounded by max_in_flight
        if mode == "redundant":
            vpns = [engine.labels[label.VPN] for engine in engines]
            assert vpns.count("gluetun") == vpns.count("gluetun-2") == 10


async def test_a_burst_on_a_port_forwarding_vpn_gives_the_forwarded_port_to_one_engine(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        runtime.create_delay = asyncio.Event()
        requests = [
            asyncio.ensure_future(client.post("/provision/acestream", headers=auth)) for _ in range(5)
        ]
        for _ in range(100):
            await asyncio.sleep(0)
        runtime.create_delay.set()
        await asyncio.gather(*requests)
        engines = (await client.get("/engines")).json()
        assert [engine["forwarded"] for engine in engines].count(True) == 1
        p2p = [runtime.specs[engine["container_id"]].environment["P2P_PORT"] for engine in engines]
        assert p2p.count("5914") == 1 and len(set(p2p)) == 5


async def test_a_restart_adopts_running_engines_and_marks_vanished_ones_gone(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        made = [(await client.post("/provision/acestream", headers=auth)).json() for _ in range(3)]
        event = {
            "engine": {"host": "localhost", "port": made[0]["host_http_port"]},
            "stream": {"key_type": "infohash", "key": "f00"},
            "session": {"playback_session_id": "p", "is_live": True},
        }
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        before = {engine["container_id"]: engine for engine in (await client.get("/engines")).json()}
    assert len(runtime.containers) == 3  # shutdown left every engine running
    await runtime.stop_and_remove(made[1]["container_id"])  # removed while the supervisor was down
    # Created by Docker, but the supervisor was killed before recording it: known only by its labels.
    orphan_labels = {
        **label.engine_selector("acestream-standalone"),
        label.HOST_HTTP_PORT: "19005",
        label.HTTP_PORT: "6878",
    }
    orphan = runtime.add("acestream-standalone-engine-19005-aaaaaa", orphan_labels)
    never_started = runtime.add(
        "acestream-standalone-engine-19006-bbbbbb",
        {**orphan_labels, label.HOST_HTTP_PORT: "19006"},
        running=False,
        never_started=True,
    )

    async with open_client("standalone") as client:
        assert never_started not in runtime.containers  # debris of a provision killed before start
        assert len(runtime.containers) == 3  # start-up deleted no engine
        engines = {engine["container_id"]: engine for engine in (await client.get("/engines")).json()}
        assert set(engines) == {made[0]["container_id"], made[2]["container_id"], orphan}
        for kept in (made[0], made[2]):
            assert engines[kept["container_id"]]["port"] == kept["host_http_port"]
            assert engines[kept["container_id"]]["first_seen"] == before[kept["container_id"]]["first_seen"]
        assert engines[orphan]["port"] == 19005
        assert engines[made[0]["container_id"]]["streams"] == ["f00|p"]
        supervisor = client.app.state.supervisor
        assert supervisor.store.engine_state(made[1]["container_id"])[0] == "gone"
        # Labels make each request want an engine of its own (a plain one may get an idle engine back).
        ports = [
            (await client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=auth)).json()[
                "host_http_port"
            ]
            for n in range(3)
        ]
        held = {made[0]["host_http_port"], made[2]["host_http_port"], 19005}
        assert held.isdisjoint(ports) and len(set(ports)) == 3
        assert ports[0] == made[1]["host_http_port"]  # the vanished engine's port is free again
