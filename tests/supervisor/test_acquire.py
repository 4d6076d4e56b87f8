"""POST /engines/acquire on the fake runtime: sharing a key's engine, the free engine with the most room,
one creation per new key, claims and their window, the 503 when a new engine is not ready in time; and
properties over random interleavings of acquires, stream events and engine deaths."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from acexy_events import started_event
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from supervisor.core.acquire import ACQUIRE_CLAIM_S, Candidate, choose
from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio


async def acquire(client: Any, auth: dict[str, str], key: str, **extra: Any) -> Any:
    return await client.post(
        "/engines/acquire", json={"key_type": "content_id", "key": key, **extra}, headers=auth
    )


async def start(client: Any, auth: dict[str, str], port: int, key: str, session: str) -> None:
    event = started_event(port, key=key, session=session)
    assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200


async def test_a_cold_acquire_creates_one_engine_and_answers_once_it_is_ready(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        answer = await acquire(client, auth, "k1")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["reused"] is False and body["streams_on_engine"] == 0
        assert body["playback_url_base"] == f"http://localhost:{body['port']}/ace/"
        (engine,) = (await client.get("/engines")).json()
        assert engine["container_id"] == body["container_id"] and engine["health_status"] == "healthy"
        assert (
            await client.post("/engines/acquire", json={"key_type": "content_id", "key": "x"})
        ).status_code == 401


async def test_clients_of_one_key_share_its_engine_while_it_has_room(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_streams_per_engine=2) as client:
        first = (await acquire(client, auth, "k1")).json()
        await start(client, auth, first["port"], "k1", "a")
        other = (await acquire(client, auth, "k2")).json()  # the first has room for one more
        assert other["container_id"] == first["container_id"] and other["reused"] is True
        await start(client, auth, other["port"], "k2", "b")
        full = (await acquire(client, auth, "k1")).json()  # no room left: a new engine
        assert full["container_id"] != first["container_id"] and full["reused"] is False


async def test_a_claim_keeps_room_for_its_stream_and_expires_when_none_comes(
    open_client: Any, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:  # max_streams_per_engine 1
        first = (await acquire(client, auth, "k1")).json()
        second = (await acquire(client, auth, "k2")).json()  # k1's claim holds the first engine
        assert second["container_id"] != first["container_id"]
        clock.advance(ACQUIRE_CLAIM_S)  # nobody started a stream: the claims lapse
        third = (await acquire(client, auth, "k3")).json()
        assert third["reused"] is True and third["container_id"] in {
            first["container_id"],
            second["container_id"],
        }
        assert len((await client.get("/engines")).json()) == 2


async def test_concurrent_acquires_of_one_new_key_create_one_engine(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_streams_per_engine=5) as client:
        runtime.create_delay = asyncio.Event()
        calls = [asyncio.create_task(acquire(client, auth, "same")) for _ in range(5)]
        for _ in range(50):
            await asyncio.sleep(0)
        runtime.create_delay.set()
        answers = [(await call).json() for call in calls]
        assert len({a["container_id"] for a in answers}) == 1
        assert len([i for i in runtime.containers.values() if "engine" in i.name]) == 1


async def test_concurrent_acquires_of_different_keys_never_exceed_max_nor_share_a_slot(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_replicas=3) as client:
        runtime.create_delay = asyncio.Event()
        calls = [asyncio.create_task(acquire(client, auth, f"k{n}")) for n in range(6)]
        for _ in range(50):
            await asyncio.sleep(0)
        runtime.create_delay.set()
        answers = [await call for call in calls]
        accepted = [a.json() for a in answers if a.status_code == 200]
        refused = [a.json()["detail"] for a in answers if a.status_code == 503]
        assert len(accepted) == 3 and len({a["port"] for a in accepted}) == 3
        assert {r["code"] for r in refused} == {"max_capacity"}


async def test_a_new_engine_not_ready_in_time_is_a_503_to_wait_and_then_goes_to_that_key(
    open_client: Any, probes: Any, clock: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        probes.silent.add(19000)  # the new engine does not answer yet
        answer = await acquire(client, auth, "slow", timeout_s=0.05)
        assert answer.status_code == 503
        detail = answer.json()["detail"]
        assert detail["code"] == "engine_starting" and detail["should_wait"] is True
        assert detail["recovery_eta_seconds"] >= 1
        other = await acquire(client, auth, "another")  # the starting engine is not handed to another key
        assert other.status_code == 200 and other.json()["port"] != 19000
        probes.silent.clear()
        clock.advance(supervisor.config.env.readiness_interval_s)
        for _ in range(50):
            await asyncio.sleep(0)
        retry = (await acquire(client, auth, "slow")).json()
        assert retry["port"] == 19000 and retry["reused"] is True


def test_choose_prefers_the_key_then_spare_room_then_forwarded_then_least_recently_used() -> None:
    def candidate(engine_id: str, **facts: Any) -> Candidate:
        base = {
            "offered": True,
            "ready": True,
            "streams": 0,
            "keys": frozenset(),
            "claims": 0,
            "reserved_for": frozenset(),
        }
        return Candidate(engine_id, **{**base, "forwarded": False, "last_used": 0.0, **facts})

    engines = [
        candidate("busy-with-k", streams=2, keys=frozenset({"k"})),
        candidate("empty", last_used=5.0),
        candidate("empty-older", last_used=1.0),
        candidate("empty-forwarded", forwarded=True, last_used=9.0),
        candidate("withdrawn", offered=False),
    ]
    assert choose("k", engines, limit=3) == "busy-with-k"
    assert choose("new", engines, limit=3) == "empty-forwarded"
    assert choose("new", engines[:3], limit=3) == "empty-older"
    assert choose("k", [candidate("full", streams=3, keys=frozenset({"k"}))], limit=3) is None
    assert choose("k", [candidate("claimed", claims=1)], limit=1) is None
    made_for_k = candidate("made-for-k", claims=1, keys=frozenset({"k"}), reserved_for=frozenset({"k"}))
    assert choose("k", [made_for_k], limit=1) == "made-for-k"  # its place is k's own
    assert choose("other", [made_for_k], limit=1) is None
    # Two engines with room for k: the one whose viewers of k watch wins over one only claimed for k.
    only_claimed = candidate("claimed-for-k", claims=1, keys=frozenset({"k"}), last_used=0.0)
    watching = candidate(
        "watching-k", streams=1, keys=frozenset({"k"}), streaming=frozenset({"k"}), last_used=9.0
    )
    assert choose("k", [only_claimed, watching], limit=2) == "watching-k"


# Properties over random interleavings (on the fake runtime, through the Acquirer itself).

operation = st.one_of(
    st.tuples(st.just("acquire"), st.sampled_from(["a", "b", "c"])),
    st.tuples(st.just("start"), st.integers(0, 5)),
    st.tuples(st.just("end"), st.integers(0, 5)),
    st.tuples(st.just("kill"), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.sampled_from([1.0, 4.0, ACQUIRE_CLAIM_S])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=25))
# A key on an engine with room, and an emptier engine beside it: the key's engine must win.
@example(
    operations=[
        *[("acquire", key) for key in "abc"],  # a and b fill the first engine's room; c gets a second
        ("start", 0),
        ("wait", ACQUIRE_CLAIM_S),
        ("acquire", "a"),
    ]
)
# A claim for b left on one engine while b's stream started on another: b goes where it is watched.
@example(
    operations=[
        *[("acquire", key) for key in "abab"],
        *[("start", n) for n in (0, 0, 2, 3)],
        *[("end", 0)] * 3,
        ("acquire", "b"),
    ]
)
def test_acquire_keeps_its_promises_under_any_interleaving(
    operations: list[tuple[str, Any]], open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    asyncio.run(_interleave(operations, open_client, runtime, clock))


async def _interleave(
    operations: list[tuple[str, Any]], open_client: Any, runtime: FakeRuntime, clock: Any
) -> None:
    from supervisor.core.capacity import ProvisioningBlocked

    runtime.containers.clear()  # each example starts from an empty daemon and a database of its own
    database = Path(tempfile.mkdtemp()) / "supervisor.db"
    async with open_client(
        "standalone", env={"db_path": database}, max_replicas=4, max_streams_per_engine=2
    ) as client:
        supervisor = client.app.state.supervisor
        acquirer, state = supervisor.acquirer, supervisor.state
        handed: list[tuple[str, str]] = []  # (engine id, key) acquires answered
        sessions = 0
        for kind, argument in operations:
            if kind == "acquire":
                try:
                    got = await acquirer.acquire(argument, timeout_s=0.05)
                except ProvisioningBlocked:
                    continue
                handed.append((got.engine.container_id, argument))
            elif kind == "start" and handed:
                engine_id, key = handed[argument % len(handed)]
                engine = state.engines.get(engine_id)
                if engine is not None:
                    sessions += 1
                    event = started_event(engine.host_http_port, key=key, session=f"s{sessions}")
                    await client.post(
                        "/events/stream_started",
                        json=event,
                        headers={"Authorization": "Bearer test-key-0123456789"},
                    )
            elif kind == "end":
                active = supervisor.store.streams()
                started = [s for s in active if s.status.value == "started"]
                if started:
                    supervisor.streams.end(started[argument % len(started)].id, None, "done")
            elif kind == "kill":
                engines = list(state.engines)
                if engines:
                    runtime.remove_behind(engines[argument % len(engines)])
                    await supervisor.reconciler.tick()
            elif kind == "wait":
                clock.advance(argument)
            now = clock.monotonic()
            # max is never exceeded, creations included
            assert len(state.engines) + state.pending <= 4
            # no claim outlives its window
            for engine_id in list(state.engines):
                assert all(claim.until - now <= ACQUIRE_CLAIM_S for claim in acquirer.claims(engine_id))
            # no key is served by two engines while one of them has room for it
            if kind == "acquire" and handed and handed[-1][1] == argument:
                chosen_id = handed[-1][0]
                keys = supervisor.store.active_keys()
                for other_id, engine in state.engines.items():
                    if other_id == chosen_id or argument not in keys.get(other_id, set()):
                        continue
                    room = 2 - len(engine.streams) - len(acquirer.claims(other_id))
                    offered = state.withdrawal(engine) is None and engine.ready
                    assert not (offered and room > 0 and argument not in keys.get(chosen_id, set())), (
                        f"{argument} sent to {chosen_id[-6:]} while {other_id[-6:]} serves it with room"
                    )
