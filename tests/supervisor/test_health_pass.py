"""A health pass probes every ready engine once, a slice of them at a time, and applies each verdict as
its probe returns; cancelled mid-pass, it leaves no probe running."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from supervisor.loops import health

pytestmark = pytest.mark.anyio

ENGINES = 25


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def ready_engines(client: Any, auth: dict[str, str]) -> Any:
    for _ in range(ENGINES):
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
    supervisor = client.app.state.supervisor
    await supervisor.readiness.tick()
    assert all(engine.ready for engine in supervisor.state.engines.values())
    return supervisor


async def test_a_pass_probes_every_engine_once_and_judges_each(
    open_client: Any, probes: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "SLICE_S", 0)
    async with open_client("standalone", max_replicas=ENGINES, size=ENGINES) as client:
        supervisor = await ready_engines(client, auth)
        probes.silent.update({19000, 19011, 19024})
        probes.engine_calls.clear()
        await supervisor.health.tick()
        engines = list(supervisor.state.engines.values())
        assert sorted(port for _, port in probes.engine_calls) == sorted(e.host_http_port for e in engines)
        failed = {e.host_http_port for e in engines if e.consecutive_failures == 1}
        assert failed == probes.silent
        assert all(e.health_status.value == "healthy" for e in engines if e.host_http_port not in failed)


async def test_a_pass_starts_its_probes_a_slice_at_a_time_and_cancels_cleanly(
    open_client: Any, probes: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "SLICE_S", 3600)  # the next slice never comes while the test looks
    async with open_client("standalone", max_replicas=ENGINES, size=ENGINES) as client:
        supervisor = await ready_engines(client, auth)
        held: dict[int, asyncio.Event] = {}

        async def held_probe(host: str, port: int) -> bool:
            held[port] = asyncio.Event()
            await held[port].wait()
            return True

        probes.engine_answers = held_probe
        for engine in supervisor.state.engines.values():
            engine.consecutive_failures = 1
        tick = asyncio.ensure_future(supervisor.health.tick())
        await settle()
        assert len(held) == health.PROBES_PER_SLICE
        released = sorted(held)[:3]
        for port in released:
            held[port].set()
        await settle()
        judged = [e.host_http_port for e in supervisor.state.engines.values() if e.consecutive_failures == 0]
        assert sorted(judged) == released  # each verdict applied as its own probe returned
        probing = [task for task in asyncio.all_tasks() if "HealthLoop._probe" in repr(task.get_coro())]
        assert len(probing) == health.PROBES_PER_SLICE - len(released)
        tick.cancel()
        with pytest.raises(asyncio.CancelledError):
            await tick
        assert all(task.cancelled() for task in probing)  # no probe outlives its pass
