"""The pure decisions: ports, environment per image, VPN choice and refusals, breaker, health, scaling."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from supervisor.core.breaker import BreakerState, CircuitBreaker
from supervisor.core.capacity import BlockCode, ProvisioningBlocked, ProvisionInputs, VpnView, choose_vpn
from supervisor.core.clock import ManualClock
from supervisor.core.environment import engine_environment
from supervisor.core.health import HealthStatus, after_probe, should_replace, startup_expired
from supervisor.core.naming import engine_name
from supervisor.core.ports import PortConflict, PortPool
from supervisor.core.scaling import EngineLoad, desired_engines, engines_to_remove
from supervisor.stack_settings import PortStyle, StackSettings


def test_vpn_slots_keep_http_https_and_p2p_of_one_engine_together(
    settings_for: Callable[..., StackSettings],
) -> None:
    pool = PortPool(settings_for("redundant", size=3))
    first, second = pool.reserve("gluetun-2"), pool.reserve("gluetun-2")
    assert first is not None and second is not None
    assert (first.host_http, first.http, first.https, first.p2p) == (40003, 40003, 41003, 42003)
    assert (second.http, second.https, second.p2p) == (40004, 41004, 42004)


def test_standalone_engines_listen_on_the_defaults_and_publish_the_range(
    settings_for: Callable[..., StackSettings],
) -> None:
    pool = PortPool(settings_for("standalone", size=2))
    slot = pool.reserve(None)
    assert slot is not None
    assert (slot.host_http, slot.http, slot.https, slot.p2p) == (19000, 6878, 6879, 8621)


def test_a_full_range_gives_nothing_and_a_released_port_comes_back(
    settings_for: Callable[..., StackSettings],
) -> None:
    pool = PortPool(settings_for("standalone", size=2))
    first, second = pool.reserve(None), pool.reserve(None)
    assert pool.reserve(None) is None
    assert first is not None and second is not None
    pool.release(first)
    again = pool.reserve(None)
    assert again is not None and again.host_http == first.host_http


def test_adoption_re_reserves_the_labelled_port_and_refuses_a_second_holder(
    settings_for: Callable[..., StackSettings],
) -> None:
    pool = PortPool(settings_for("single", size=3))
    assert pool.reserve_host_port("gluetun", 40001).index == 1
    with pytest.raises(PortConflict, match="already held"):
        pool.reserve_host_port("gluetun", 40001)
    with pytest.raises(PortConflict, match="outside"):
        pool.reserve_host_port("gluetun", 50000)
    first = pool.reserve("gluetun")
    assert first is not None and first.http == 40000


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            PortStyle.conf,
            {
                "CONF": "--http-port=40000\n--https-port=41000\n--bind-all",
                "HTTP_PORT": "40000",
                "HTTPS_PORT": "41000",
                "BIND_ALL": "true",
                "P2P_PORT": "42000",
            },
        ),
        (
            PortStyle.acestream_args,
            {"ACESTREAM_ARGS": "--http-port=40000 --https-port=41000 --port=42000 --bind-all"},
        ),
        (
            PortStyle.extra_flags,
            {
                "EXTRA_FLAGS": "--http-port=40000 --https-port=41000 --port=42000 --bind-all",
                "ALLOW_REMOTE_ACCESS": "yes",
            },
        ),
    ],
)
def test_each_image_is_told_its_ports_its_own_way(style: PortStyle, expected: dict[str, str]) -> None:
    assert engine_environment(style, 40000, 41000, 42000) == expected


def test_engine_names_carry_stack_and_port() -> None:
    assert engine_name("acestream-single", 40003, "abc123") == "acestream-single-engine-40003-abc123"
    assert engine_name("s", 1) != engine_name("s", 1)


def inputs(*vpns: VpnView, engines: int = 0, breaker_open: bool = False) -> ProvisionInputs:
    return ProvisionInputs(engines, 4, vpns, breaker_open, 42, 5, 30)


def test_redundant_mode_picks_the_connected_vpn_with_fewer_engines() -> None:
    assert choose_vpn(inputs(VpnView("a", True, 3, 5), VpnView("b", True, 1, 5), engines=4 - 1)) == "b"
    assert choose_vpn(inputs(VpnView("a", True, 3, 5), VpnView("b", False, 0, 5), engines=3)) == "a"
    assert choose_vpn(inputs(VpnView("a", True, 0, 0), VpnView("b", True, 2, 1), engines=2)) == "b"


@pytest.mark.parametrize(
    ("given", "code", "eta", "can_retry"),
    [
        (inputs(VpnView("a", True, 0, 5), breaker_open=True), BlockCode.circuit_breaker, 42, True),
        (inputs(VpnView("a", True, 4, 5), engines=4), BlockCode.max_capacity, 30, False),
        (inputs(VpnView("a", False, 0, 5)), BlockCode.vpn_disconnected, 5, True),
        (inputs(VpnView("a", True, 1, 0), engines=1), BlockCode.max_capacity, 30, False),
    ],
)
def test_refusals_say_why_and_when_to_retry(
    given: ProvisionInputs, code: BlockCode, eta: int, can_retry: bool
) -> None:
    with pytest.raises(ProvisioningBlocked) as raised:
        choose_vpn(given)
    detail = raised.value.detail()
    assert detail["error"] == "provisioning_blocked"
    assert (detail["code"], detail["recovery_eta_seconds"], detail["can_retry"]) == (
        code.value,
        eta,
        can_retry,
    )
    assert detail["should_wait"] is True and detail["message"]


def test_breaker_opens_after_the_threshold_and_lets_one_trial_through_after_the_timeout() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(clock, threshold=2, recovery_timeout_s=60)
    breaker.record_failure("boom")
    assert breaker.allows()
    breaker.record_failure("boom again")
    assert breaker.state is BreakerState.open and not breaker.allows()
    clock.advance(20)
    assert breaker.recovery_eta_seconds() == 40
    clock.advance(40)
    assert breaker.state is BreakerState.half_open and breaker.allows()
    breaker.record_failure("still broken")
    assert breaker.state is BreakerState.open
    clock.advance(60)
    breaker.record_success()
    assert breaker.state is BreakerState.closed and breaker.recovery_eta_seconds() == 0
    assert breaker.last_failure == "still broken"


def test_health_turns_unhealthy_only_after_the_threshold_and_recovers_at_once() -> None:
    verdict = after_probe(False, HealthStatus.healthy, 0, threshold=2)
    assert verdict.status is HealthStatus.healthy
    verdict = after_probe(False, verdict.status, verdict.consecutive_failures, threshold=2)
    assert verdict.status is HealthStatus.unhealthy
    assert after_probe(True, verdict.status, verdict.consecutive_failures, 2).status is HealthStatus.healthy


def test_startup_timeout_and_replacement_rules() -> None:
    assert not startup_expired(100, 124, 25) and startup_expired(100, 125, 25)
    assert should_replace(0, 61, 60, 0, None, 60)
    assert not should_replace(0, 59, 60, 0, None, 60)  # still in grace
    assert not should_replace(0, 61, 60, 1, None, 60)  # still streaming
    assert not should_replace(0, 100, 60, 0, 50, 60)  # cooldown after the last replacement
    assert not should_replace(None, 100, 60, 0, None, 60)


def test_desired_engines_keeps_free_ones_within_min_and_max() -> None:
    assert desired_engines(busy=0, minimum=1, min_free=1, maximum=5, target=None) == 1
    assert desired_engines(busy=3, minimum=1, min_free=2, maximum=10, target=None) == 5
    assert desired_engines(busy=9, minimum=1, min_free=2, maximum=10, target=None) == 10
    assert desired_engines(busy=0, minimum=1, min_free=1, maximum=10, target=6) == 6


def test_only_idle_engines_past_their_grace_period_are_removed_oldest_first() -> None:
    loads = [
        EngineLoad("busy", 1, 0),
        EngineLoad("new", 0, 95),
        EngineLoad("old", 0, 10),
        EngineLoad("mid", 0, 50),
    ]
    assert engines_to_remove(loads, desired=2, now=100, grace_period_s=30) == ["old", "mid"]
    assert engines_to_remove(loads, desired=3, now=100, grace_period_s=30) == ["old"]
    assert engines_to_remove(loads, desired=4, now=100, grace_period_s=30) == []
