"""The reconciler's rules at their edges, on plain data (written against the mutants `just mutate` found
surviving): each waiting rule's wake-up time, the grace periods and cooldowns at their exact ends, several
VPNs in one pass, and no creation planned when there is no room."""

from __future__ import annotations

import pytest
from reconcile_facts import engine, snapshot

from supervisor.core import reconcile as rc


def unhealthy_removals(plan: rc.Plan) -> list[rc.Action]:
    return [a for a in plan.actions if isinstance(a, rc.Remove) and a.reason is rc.Reason.unhealthy]


@pytest.mark.parametrize(
    ("facts", "phase"),
    [
        ({"ready": True, "running": True, "unhealthy": False, "draining": False}, rc.Phase.ready),
        ({"ready": False, "running": True, "unhealthy": False, "draining": False}, rc.Phase.starting),
        ({"ready": True, "running": True, "unhealthy": True, "draining": False}, rc.Phase.unhealthy),
        ({"ready": True, "running": True, "unhealthy": True, "draining": True}, rc.Phase.draining),
        ({"ready": True, "running": False, "unhealthy": True, "draining": True}, rc.Phase.stopped),
        ({"ready": False, "running": False, "unhealthy": False, "draining": False}, rc.Phase.stopped),
    ],
)
def test_each_engine_is_in_the_phase_its_most_fundamental_fact_says(
    facts: dict[str, bool], phase: rc.Phase
) -> None:
    assert rc.engine_phase(**facts) is phase


def test_an_unhealthy_engine_in_its_grace_is_kept_and_the_pass_is_due_when_the_grace_ends() -> None:
    plan = rc.plan(snapshot(engine(unhealthy_for=59.5, withdrawn=True)))
    assert unhealthy_removals(plan) == [] and plan.wake_in == 0.5
    due = rc.plan(snapshot(engine(unhealthy_for=60, withdrawn=True)))
    assert unhealthy_removals(due) == [rc.Remove("e1", rc.Reason.unhealthy)]


def test_an_unhealthy_engine_still_serving_is_kept_until_twice_its_grace() -> None:
    def serving_for(unhealthy_for: float) -> rc.Plan:
        return rc.plan(snapshot(engine(unhealthy_for=unhealthy_for, withdrawn=True, streams=1, serving=True)))

    assert serving_for(60).actions == () and serving_for(60).wake_in == 60
    assert serving_for(119.5).actions == () and serving_for(119.5).wake_in == 0.5
    assert serving_for(120).actions == (
        rc.Remove("e1", rc.Reason.unhealthy_serving, "engine_unhealthy"),  # its viewers were lost anyway
    )


def test_the_next_unhealthy_replacement_waits_for_the_cooldown_and_no_longer() -> None:
    sick = engine(unhealthy_for=500, withdrawn=True)
    assert unhealthy_removals(rc.plan(snapshot(sick, since_replacement=59))) == []
    assert unhealthy_removals(rc.plan(snapshot(sick, since_replacement=60))) == [
        rc.Remove("e1", rc.Reason.unhealthy)
    ]
    assert unhealthy_removals(rc.plan(snapshot(sick, since_replacement=600))) == [
        rc.Remove("e1", rc.Reason.unhealthy)
    ]


def test_a_stopped_engine_not_yet_timed_is_given_its_whole_restart_window() -> None:
    plan = rc.plan(snapshot(engine(running=False, stopped_for=None, withdrawn=True)))
    assert plan.actions == () and plan.wake_in == 2


def test_a_vpn_whose_down_time_is_unknown_is_not_restarted() -> None:
    never_seen_up = rc.VpnFacts("g", connected=False, down_for=None)
    plan = rc.plan(snapshot(vpns=(never_seen_up,)))
    assert plan.actions == () and plan.wake_in is None


def test_every_vpn_is_judged_in_one_pass() -> None:
    up = rc.VpnFacts("a", connected=True)
    cooling = rc.VpnFacts("b", connected=False, down_for=300, restarted_for=45)
    down = rc.VpnFacts("c", connected=False, down_for=61)
    plan = rc.plan(snapshot(vpns=(up, cooling, down)))
    assert plan.actions == (rc.RestartVpn("c"),)
    assert plan.wake_in == 15  # b may be restarted again once its last restart is a timeout old


def test_a_vpn_down_for_less_than_its_timeout_is_passed_again_when_the_timeout_ends() -> None:
    plan = rc.plan(snapshot(vpns=(rc.VpnFacts("g", connected=False, down_for=20),)))
    assert plan.actions == () and plan.wake_in == 40


def test_no_creation_is_planned_when_removals_in_flight_fill_the_room_to_max() -> None:
    busy = engine("a", streams=1, serving=True)
    plan = rc.plan(snapshot(busy, min_free=1, maximum=2, removing=1))
    assert plan.desired == 2 and plan.actions == ()
    over = rc.plan(snapshot(busy, min_free=1, maximum=2, creating=1, removing=1))
    assert over.actions == ()


def test_an_idle_engine_leaves_exactly_when_its_grace_ends() -> None:
    assert rc.plan(snapshot(engine(idle_for=29.5))).actions == ()
    assert rc.plan(snapshot(engine(idle_for=30))).actions == (rc.Remove("e1", rc.Reason.idle),)


def test_an_orphan_is_judged_once_it_has_settled_and_the_pass_is_due_then() -> None:
    young = rc.OrphanFacts("o1", running=True, slot_free=True, seen_for=2)
    plan = rc.plan(snapshot(orphans=(young,)))
    assert plan.actions == () and plan.wake_in == rc.ORPHAN_SETTLE_S - 2
    settled = rc.OrphanFacts("o1", running=True, slot_free=True, seen_for=rc.ORPHAN_SETTLE_S)
    assert rc.plan(snapshot(orphans=(settled,))).actions == (rc.Adopt("o1"),)


def test_an_idle_unhealthy_engine_held_back_by_the_cooldown_schedules_no_early_pass() -> None:
    """It is replaced once the cooldown has passed; a pass scheduled for it is for then, never before."""
    for unhealthy_for in (61, 130):
        plan = rc.plan(snapshot(engine(unhealthy_for=unhealthy_for, withdrawn=True), since_replacement=30))
        assert unhealthy_removals(plan) == []
        assert plan.wake_in is None or plan.wake_in == 30
