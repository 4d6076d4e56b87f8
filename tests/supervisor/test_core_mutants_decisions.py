"""The pure decisions at their edges (written against the mutants `just mutate` found surviving): every
field of each refusal, the breaker's count after a success, the port pool's quarantine arithmetic, the
spec hash's inputs and its stability across releases, the clocks, the lease verdicts and stat answers."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from supervisor.core import labels as label
from supervisor.core import lease
from supervisor.core.breaker import BreakerState, CircuitBreaker
from supervisor.core.capacity import (
    BlockCode,
    ProvisioningBlocked,
    ProvisionInputs,
    VpnView,
    choose_vpn,
    freeing_eta,
)
from supervisor.core.clock import ManualClock, SystemClock
from supervisor.core.health import should_replace
from supervisor.core.lease import Me
from supervisor.core.naming import engine_name
from supervisor.core.ports import PortConflict, PortPool, Slot
from supervisor.core.records import Engine, serving
from supervisor.core.scaling import over_limit
from supervisor.core.spec_hash import settings_hash
from supervisor.core.stream_check import read_stat
from supervisor.stack_settings import PortStyle, StackSettings

StackFactory = Callable[..., StackSettings]


def refusal(inputs: ProvisionInputs) -> dict[str, object]:
    with pytest.raises(ProvisioningBlocked) as raised:
        choose_vpn(inputs)
    assert str(raised.value) == raised.value.message  # what a log line of the exception shows
    return raised.value.detail()


def inputs(
    *vpns: VpnView, engines: int = 0, capacity_retry: int | None = 30, **more: object
) -> ProvisionInputs:
    return ProvisionInputs(
        engines=engines,
        max_replicas=4,
        vpns=vpns,
        breaker_open=bool(more.pop("breaker_open", False)),
        breaker_eta_seconds=42,
        vpn_retry_seconds=5,
        capacity_retry_seconds=capacity_retry,
        docker_unreachable=bool(more.pop("docker_unreachable", False)),
    )


UP = VpnView("a", connected=True, engines=0, free_slots=5)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            inputs(UP, docker_unreachable=True, breaker_open=True),  # the daemon is named first
            {
                "code": "docker_unreachable",
                "message": "the Docker daemon does not answer; provisioning resumes as soon as it does",
                "recovery_eta_seconds": 1,
                "can_retry": True,
                "should_wait": True,
            },
        ),
        (
            inputs(UP, breaker_open=True),
            {
                "code": "circuit_breaker",
                "message": "provisioning paused after repeated failures to start engines; "
                "retry after recovery_eta_seconds",
                "recovery_eta_seconds": 42,
                "can_retry": True,
                "should_wait": True,
            },
        ),
        (
            inputs(VpnView("a", connected=False, engines=0, free_slots=5)),
            {
                "code": "vpn_disconnected",
                "message": "no VPN is connected; engines are provisioned once a VPN reports running",
                "recovery_eta_seconds": 5,
                "can_retry": True,
                "should_wait": True,
            },
        ),
        (
            inputs(UP, engines=4),
            {
                "code": "max_capacity",
                "message": "the stack already runs its maximum of 4 engines; "
                "reuse a free engine or wait for one to be freed",
                "recovery_eta_seconds": 30,
                "can_retry": False,
                "should_wait": True,
            },
        ),
        (
            inputs(VpnView("a", connected=True, engines=1, free_slots=0), engines=1),
            {
                "code": "max_capacity",
                "message": "every engine port of the connected VPNs is in use; "
                "reuse a free engine or wait for one to be freed",
                "recovery_eta_seconds": 30,
                "can_retry": False,
                "should_wait": True,
            },
        ),
        (
            inputs(UP, engines=4, capacity_retry=None),  # nothing will free up: clients must not wait
            {
                "code": "max_capacity",
                "message": "the stack already runs its maximum of 4 engines, and every engine carries "
                "streams; no engine is expected to free up",
                "recovery_eta_seconds": 0,
                "can_retry": False,
                "should_wait": False,
            },
        ),
    ],
)
def test_every_refusal_carries_the_fields_acexy_acts_on(
    given: ProvisionInputs, expected: dict[str, object]
) -> None:
    assert refusal(given) == {"error": "provisioning_blocked", **expected}


def test_a_refusal_keeps_its_code_as_the_enum_for_the_error_mapper() -> None:
    with pytest.raises(ProvisioningBlocked) as raised:
        choose_vpn(inputs(UP, docker_unreachable=True))
    assert raised.value.code is BlockCode.docker_unreachable


@pytest.mark.parametrize(
    ("idle_for", "removing", "interval", "expected"),
    [
        ([], 0, 30, None),  # every engine carries streams: nothing frees up
        ([], 2, 30, 1),  # a removal in flight frees its slot within moments
        ([10.0, 25.0], 0, 5, 10),  # the one idle longest: 5 s of grace left, then the next pass
        ([100.0], 0, 1, 1),  # past its grace: the next pass, one interval away
        ([100.0], 0, 0.2, 1),  # never less than a second
        ([29.5], 0, 2, 3),  # rounded up, never promising too early
    ],
)
def test_freeing_eta_is_when_the_next_pass_can_free_a_slot(
    idle_for: list[float], removing: int, interval: float, expected: int | None
) -> None:
    assert freeing_eta(idle_for, removing, grace_period_s=30, interval_s=interval) == expected


def test_a_new_breaker_is_closed_with_no_failure_to_report() -> None:
    breaker = CircuitBreaker(ManualClock(), threshold=3, recovery_timeout_s=60)
    assert breaker.state is BreakerState.closed and breaker.allows()
    assert breaker.last_failure is None and breaker.recovery_eta_seconds() == 0


def test_a_success_starts_the_failure_count_again() -> None:
    breaker = CircuitBreaker(ManualClock(), threshold=2, recovery_timeout_s=60)
    breaker.record_failure("one")
    breaker.record_success()
    breaker.record_failure("two")
    assert breaker.state is BreakerState.closed and breaker.allows()  # one failure since the success
    breaker.record_failure("three")
    assert breaker.state is BreakerState.open


def test_a_half_open_breaker_with_no_trial_under_way_says_retry_now() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(clock, threshold=1, recovery_timeout_s=60)
    breaker.record_failure("boom")
    clock.advance(61)
    assert breaker.state is BreakerState.half_open and breaker.recovery_eta_seconds() == 0
    breaker.begin()
    assert not breaker.allows() and breaker.recovery_eta_seconds() == 1  # the trial's outcome comes soon


def test_a_replacement_is_allowed_again_exactly_when_the_cooldown_ends() -> None:
    assert should_replace(0, 100, grace_period_s=60, active_streams=0, last_replacement=40, cooldown_s=60)
    assert not should_replace(0, 100, grace_period_s=60, active_streams=0, last_replacement=41, cooldown_s=60)


def test_engines_are_listed_by_exactly_the_labels_they_are_created_with() -> None:
    assert label.engine_selector("acestream-single") == {
        "acestream-orchestrator.managed": "true",
        "acestream-orchestrator.stack": "acestream-single",
        "acestream-orchestrator.role": "engine",
    }


def test_an_engine_name_ends_in_six_random_hex_digits() -> None:
    names = {engine_name("acestream-single", 40003) for _ in range(20)}
    assert all(re.fullmatch(r"acestream-single-engine-40003-[0-9a-f]{6}", name) for name in names)
    assert len(names) > 1


def test_streams_beyond_the_limit_are_counted_and_none_below_it() -> None:
    assert [over_limit(streams, 2) for streams in (0, 1, 2, 3, 5)] == [0, 0, 0, 1, 3]


def engine(**fields: object) -> Engine:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    slot = Slot(None, 0, 19000, 6878, 6879, 8621)
    base: dict[str, object] = {
        "container_id": "c1",
        "container_name": "e1",
        "slot": slot,
        "vpn_container": None,
        "forwarded": False,
        "labels": {},
        "first_seen": now,
        "last_seen": now,
        "started_monotonic": 0.0,
    }
    return Engine(**{**base, **fields})  # type: ignore[arg-type]


def test_an_engine_serves_while_it_has_a_recorded_stream_or_reports_a_session() -> None:
    assert not serving(engine())
    assert not serving(engine(live_sessions=0))
    assert serving(engine(streams={"s1"}))
    assert serving(engine(live_sessions=2))  # a session nobody told the supervisor about


# The port pool.


def test_quarantined_slots_are_not_free_until_their_time_is_up(settings_for: StackFactory) -> None:
    pool = PortPool(settings_for("standalone", size=4))
    held = pool.reserve(None, now=0.0)
    assert held is not None and held.host_http == 19000
    pool.quarantine(Slot(None, 1, 19001, 6878, 6879, 8621), until=300.0)
    pool.quarantine(held, until=300.0)  # held and quarantined: counted once, as held
    assert pool.free(None, now=10.0) == 2
    assert pool.free(None) == 3  # without a time nothing is skipped
    assert pool.quarantined(now=10.0) == {None: [19000, 19001]}
    assert pool.free(None, now=300.0) == 3 and pool.quarantined(now=300.0) == {}


def test_a_reservation_at_a_time_skips_quarantined_slots_and_one_without_ignores_them(
    settings_for: StackFactory,
) -> None:
    pool = PortPool(settings_for("single", size=3))
    first = Slot("gluetun", 0, 40000, 40000, 41000, 42000)
    pool.quarantine(first, until=100.0)
    skipped = pool.reserve("gluetun", now=50.0)
    assert skipped is not None and skipped.host_http == 40001
    assert pool.quarantined(now=50.0) == {"gluetun": [40000]}
    untimed = pool.reserve("gluetun")
    assert untimed is not None and untimed.host_http == 40000


def test_a_quarantine_of_one_vpn_leaves_the_others_alone(settings_for: StackFactory) -> None:
    pool = PortPool(settings_for("redundant", size=2))
    pool.quarantine(Slot("gluetun-2", 0, 40002, 40002, 41002, 42002), until=100.0)
    assert pool.quarantined(now=0.0) == {"gluetun-2": [40002]}
    assert pool.free("gluetun", now=0.0) == 2 and pool.free("gluetun-2", now=0.0) == 1


def test_a_used_slot_is_not_free(settings_for: StackFactory) -> None:
    pool = PortPool(settings_for("standalone", size=5))
    pool.reserve(None)
    pool.reserve(None)
    assert (pool.size(None), pool.used(None), pool.free(None), pool.free(None, now=0.0)) == (5, 2, 3, 3)


def test_adopting_onto_an_unknown_vpn_is_refused_naming_it(settings_for: StackFactory) -> None:
    pool = PortPool(settings_for("single", size=2))
    with pytest.raises(PortConflict, match=r"^VPN 'gluetun-9' is not in this stack's settings$"):
        pool.reserve_host_port("gluetun-9", 40000)


@pytest.mark.parametrize(
    ("vpn", "port", "free"),
    [
        ("gluetun", "40001", True),
        ("gluetun", 40001, True),
        ("gluetun", "40000", False),  # held
        ("gluetun", "50000", False),  # outside the range
        ("gluetun", None, False),  # no port label
        ("gluetun", "forty", False),  # a label that is no port
        ("gluetun-9", "40001", False),  # a VPN the settings do not have
        (None, "40001", False),
    ],
)
def test_an_orphans_slot_is_free_only_in_range_and_unheld(
    settings_for: StackFactory, vpn: str | None, port: str | int | None, free: bool
) -> None:
    pool = PortPool(settings_for("single", size=3))
    pool.reserve_host_port("gluetun", 40000)
    assert pool.slot_free(vpn, port) is free


def test_vpn_port_ranges_of_different_lengths_are_refused(settings_for: StackFactory) -> None:
    settings = settings_for("single", size=3).model_dump(mode="json")
    settings["vpns"][0]["engine_ports"]["p2p"] = "42000-42001"  # one port short
    with pytest.raises(ValueError, match="shorter"):
        PortPool(StackSettings.model_validate(settings))


# The spec hash: what a changed profile is noticed by.


def test_the_spec_hash_of_this_release_is_stable(settings_for: StackFactory) -> None:
    """An engine is labelled with this hash when it is created; after an upgrade a different hash for the
    same settings would make every running engine look drifted and drain them all. So the hash is the
    sha256 of exactly this canonical JSON (sorted keys, no spaces), cut to 16 hex digits. (The cache policy
    joined it in issue 9: engines made before it carry no cap and are replaced once, when idle.)"""
    standalone = settings_for("standalone", size=2)
    slot = PortPool(standalone).reserve(None)
    assert slot is not None
    conf = (
        '"environment":{"BIND_ALL":"true","CONF":"--http-port=6878\\n--https-port=6879\\n--bind-all'
        '\\n--cache-limit=4","HTTPS_PORT":"6879","HTTP_PORT":"6878","P2P_PORT":"8621"},"image":"engine:test"'
    )
    assert settings_hash(standalone, slot, None) == sha16(
        "{" + conf + ',"network":"network:","published":[19000,6878,null],"tmpfs":{}}'
    )
    assert settings_hash(standalone, slot, "acestream_default") == sha16(
        "{" + conf + ',"network":"network:acestream_default","published":[19000,6878,null],"tmpfs":{}}'
    )
    assert settings_hash(standalone, slot, None) == "8bcc4ac59de30e47"  # the same, as engines carry it
    single = settings_for("single", size=2)
    vpn_slot = PortPool(single).reserve("gluetun")
    assert vpn_slot is not None
    assert settings_hash(single, vpn_slot, None) == sha16(
        '{"environment":{"BIND_ALL":"true","CONF":"--http-port=40000\\n--https-port=41000\\n--bind-all'
        '\\n--cache-limit=4","HTTPS_PORT":"41000","HTTP_PORT":"40000","P2P_PORT":"42000"},'
        '"image":"engine:test","network":"vpn:gluetun","published":null,"tmpfs":{}}'
    )


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_the_spec_hash_changes_with_everything_the_settings_decide(settings_for: StackFactory) -> None:
    base = settings_for("standalone", size=2)
    first, second = (Slot(None, i, 19000 + i, 6878, 6879, 8621) for i in range(2))
    reference = settings_hash(base, first, "net")
    changed = {
        "image": settings_hash(settings_for("standalone", size=2, image="engine:v2"), first, "net"),
        "style": settings_hash(
            base.model_copy(
                update={"engine": base.engine.model_copy(update={"port_style": PortStyle.extra_flags})}
            ),
            first,
            "net",
        ),
        "http": settings_hash(base, Slot(None, 0, 19000, 7000, 6879, 8621), "net"),
        "https": settings_hash(base, Slot(None, 0, 19000, 6878, 7001, 8621), "net"),
        "p2p": settings_hash(base, Slot(None, 0, 19000, 6878, 6879, 9000), "net"),
        "published port": settings_hash(base, second, "net"),
        "host ip": settings_hash(base.model_copy(update={"host_ip": "127.0.0.1"}), first, "net"),
        "network": settings_hash(base, first, "other"),
    }
    assert reference not in changed.values()
    assert len(set(changed.values())) == len(changed)
    assert settings_hash(base, first, None) == settings_hash(base, first, "")  # no network named either way


def test_a_vpn_engines_hash_ignores_what_only_standalone_engines_use(settings_for: StackFactory) -> None:
    single = settings_for("single", size=2)
    slot = Slot("gluetun", 0, 40000, 40000, 41000, 42000)
    reference = settings_hash(single, slot, None)
    assert settings_hash(single, slot, "some-network") == reference  # it joins its gluetun's namespace
    assert settings_hash(single.model_copy(update={"host_ip": "127.0.0.1"}), slot, None) == reference
    assert settings_hash(single, Slot("gluetun-2", 0, 40000, 40000, 41000, 42000), None) != reference


# The clocks.


def test_a_manual_clock_starts_at_new_year_2026_and_moves_only_when_told() -> None:
    clock = ManualClock()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert clock.now() == start
    clock.advance(90)
    assert clock.now() == start + timedelta(seconds=90) and clock.monotonic() == 1090.0
    given = ManualClock(datetime(2030, 6, 1, tzinfo=UTC))
    given.advance(1.5)
    assert given.now() == datetime(2030, 6, 1, 0, 0, 1, 500000, tzinfo=UTC)


@pytest.mark.anyio
async def test_a_manual_sleep_ends_when_its_deadline_is_reached_not_before() -> None:
    clock = ManualClock()
    sleeper = asyncio.ensure_future(clock.sleep(5))
    await asyncio.sleep(0)
    clock.advance(4.9)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(0.1)
    await asyncio.sleep(0)
    assert sleeper.done()


@pytest.mark.anyio
async def test_the_system_clock_tells_utc_and_sleeps() -> None:
    clock = SystemClock()
    now = clock.now()
    assert now.tzinfo is UTC and abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    before = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() >= before + 0.005


# The lease: one supervisor per stack.


def test_a_lease_held_from_another_running_container_is_held() -> None:
    me = Me("my-token", "host-a", 7, container="c" * 64)
    theirs = {lease.HOLDER: "their-token", lease.CONTAINER: "d" * 64}
    assert lease.judge(theirs, me, container_running=True, pid_alive=None) is lease.Verdict.held
    assert lease.judge(theirs, me, container_running=False, pid_alive=None) is lease.Verdict.stale
    mine_before = {lease.HOLDER: "old-token", lease.CONTAINER: "c" * 64}  # this container, before a crash
    assert lease.judge(mine_before, me, container_running=True, pid_alive=None) is lease.Verdict.stale


def test_a_refusal_names_the_lease_holder() -> None:
    in_container = {lease.CONTAINER: "0123456789abcdef" * 4, lease.SINCE: "2026-01-01T00:00:00+00:00"}
    assert lease.describe(in_container) == "container 0123456789ab, since 2026-01-01T00:00:00+00:00"
    on_host = {lease.PID: "4242", lease.HOST: "nas"}
    assert lease.describe(on_host) == "pid 4242 on host nas, since ?"
    assert lease.describe({}) == "pid ? on host ?, since ?"


# What an engine's stat URL answers.


def test_a_stat_answer_reads_numbers_given_as_text_and_nothing_else() -> None:
    stat = read_stat(
        {
            "response": {"peers": "-3", "speed_down": " 12 ", "speed_up": "7-", "downloaded": "X5"},
            "error": None,
        }
    )
    assert stat is not None
    assert (stat.status, stat.peers, stat.speed_down, stat.speed_up, stat.downloaded) == (
        "unknown",  # no status in the answer
        -3,
        12,
        None,
        None,
    )


def test_an_unreadable_stat_answer_says_what_came_cut_to_80_characters() -> None:
    with pytest.raises(ValueError) as raised:
        read_stat(["x" * 100])
    assert str(raised.value) == f"the stat answer is {str(['x' * 100])[:80]!r}, not a JSON object"
    with pytest.raises(ValueError) as raised:
        read_stat({"response": None, "error": "e" * 100})
    assert str(raised.value) == f"the stat answer has no session and says {'e' * 80!r}"
