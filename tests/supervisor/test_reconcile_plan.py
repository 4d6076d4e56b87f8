"""The reconciler's decisions on plain data: each fault's rule, and idempotency (the state after the
actions plans nothing more)."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from reconcile_facts import engine, snapshot

from supervisor.core import reconcile as rc


def test_an_engine_docker_no_longer_lists_is_forgotten() -> None:
    assert rc.plan(snapshot(engine(listed=False))).actions == (rc.Forget("e1"),)


def test_a_stopped_engine_waits_for_its_restart_policy_then_is_replaced() -> None:
    waiting = rc.plan(snapshot(engine(running=False, stopped_for=0.5, withdrawn=True), min_free=1))
    assert waiting.actions == (rc.Create(1),)  # withdrawn, so a free engine is started at once
    assert waiting.wake_in == 1.5  # the pass that replaces it is due when the window ends
    due = rc.plan(snapshot(engine(running=False, stopped_for=2, streams=1, serving=True)))
    assert due.actions == (rc.Remove("e1", rc.Reason.stopped, "engine_stopped"),)  # streams end too


def test_an_engine_stranded_in_an_old_namespace_is_replaced_even_while_serving() -> None:
    plan = rc.plan(snapshot(engine(vpn="g", namespace_lost=True, streams=1, serving=True)))
    assert plan.actions == (rc.Remove("e1", rc.Reason.namespace_lost, "vpn_restarted"),)


def test_a_drifted_engine_drains_while_it_serves_and_leaves_once_idle() -> None:
    serving = rc.plan(snapshot(engine(drifted=True, streams=1, serving=True)))
    assert serving.actions == (rc.Drain("e1", rc.DrainReason.drifted),)
    idle = rc.plan(snapshot(engine(drifted=True)))
    assert idle.actions == (rc.Remove("e1", rc.DrainReason.drifted),)
    drained = rc.plan(snapshot(engine(draining=True)))
    assert drained.actions == (rc.Remove("e1", rc.Reason.drained),)


def test_an_engine_serving_an_unrecorded_session_is_never_removed_as_idle() -> None:
    plan = rc.plan(snapshot(engine(idle_for=999, streams=0, serving=True)))
    assert plan.actions == ()
    assert rc.plan(snapshot(engine(idle_for=999))).actions == (rc.Remove("e1", rc.Reason.idle),)


def test_idle_engines_beyond_desired_leave_longest_idle_first_after_the_grace() -> None:
    engines = [engine("a", idle_for=40), engine("b", idle_for=90), engine("c", idle_for=10)]
    plan = rc.plan(snapshot(*engines, minimum=1))
    assert plan.actions == (rc.Remove("b", rc.Reason.idle), rc.Remove("a", rc.Reason.idle))


def test_one_unhealthy_engine_is_replaced_per_cooldown() -> None:
    sick = [engine(f"e{n}", unhealthy_for=61, withdrawn=True) for n in range(3)]
    first = rc.plan(snapshot(*sick))
    assert [a for a in first.actions if isinstance(a, rc.Remove) and a.reason is rc.Reason.unhealthy] == [
        rc.Remove("e0", rc.Reason.unhealthy)
    ]
    cooling = rc.plan(snapshot(*sick[1:], since_replacement=10))
    assert not any(isinstance(a, rc.Remove) and a.reason is rc.Reason.unhealthy for a in cooling.actions)


def test_an_unhealthy_engine_with_streams_is_kept_for_twice_its_grace_then_replaced() -> None:
    serving = engine(unhealthy_for=61, streams=1, serving=True, withdrawn=True)
    kept = rc.plan(snapshot(serving))
    assert kept.actions == () and kept.wake_in == 59
    lost = rc.plan(snapshot(dataclasses.replace(serving, unhealthy_for=120)))
    assert lost.actions == (rc.Remove("e1", rc.Reason.unhealthy_serving, "engine_unhealthy"),)


def test_withdrawn_and_full_engines_count_as_busy_so_free_ones_are_started() -> None:
    plan = rc.plan(
        snapshot(
            engine("full", streams=1, serving=True),
            engine("down", withdrawn=True),
            engine("free"),
            min_free=2,
        )
    )
    assert plan.desired == 4 and plan.actions == (rc.Create(1),)


def test_creation_stops_at_max_counting_creations_and_removals_in_flight() -> None:
    plan = rc.plan(
        snapshot(engine("a", streams=1, serving=True), min_free=5, maximum=4, creating=1, removing=1)
    )
    assert plan.actions == (rc.Create(1),)


def test_orphans_are_adopted_only_running_on_a_free_slot_in_their_namespace() -> None:
    orphans = (
        rc.OrphanFacts("ok", running=True, slot_free=True),
        rc.OrphanFacts("debris", running=False, never_started=True),
        rc.OrphanFacts("exited", running=False, slot_free=True),
        rc.OrphanFacts("taken", running=True, slot_free=False),
        rc.OrphanFacts("stale", running=True, slot_free=True, namespace_ok=False),
    )
    assert rc.plan(snapshot(orphans=orphans)).actions == (
        rc.Adopt("ok"),
        rc.RemoveOrphan("debris", rc.Reason.orphan_never_started),
        rc.RemoveOrphan("exited", rc.Reason.orphan_stopped),
        rc.RemoveOrphan("taken", rc.Reason.orphan_no_slot),
        rc.RemoveOrphan("stale", rc.Reason.orphan_namespace),
    )


def test_a_vpn_down_past_its_timeout_is_restarted_once_per_timeout() -> None:
    down = rc.VpnFacts("g", connected=False, down_for=61)
    assert rc.plan(snapshot(vpns=(down,))).actions == (rc.RestartVpn("g"),)
    again = dataclasses.replace(down, down_for=100, restarted_for=39)
    plan = rc.plan(snapshot(vpns=(again,)))
    assert plan.actions == () and plan.wake_in == 21
    assert rc.plan(snapshot(vpns=(dataclasses.replace(again, restarted_for=60),))).actions == (
        rc.RestartVpn("g"),
    )
    gone = dataclasses.replace(down, container_known=False)
    assert rc.plan(snapshot(vpns=(gone,))).actions == ()  # nothing to restart: compose recreates it


def test_a_failed_vpns_engines_drain_only_while_another_vpn_is_connected() -> None:
    vpns = (rc.VpnFacts("a", connected=False, down_for=1), rc.VpnFacts("b", connected=True))
    serving = engine("s", vpn="a", streams=1, serving=True, withdrawn=True)
    idle = engine("i", vpn="a", withdrawn=True)
    plan = rc.plan(snapshot(serving, idle, vpns=vpns))
    assert plan.actions == (
        rc.Drain("s", rc.DrainReason.vpn_failover),
        rc.Remove("i", rc.DrainReason.vpn_failover),
    )
    alone = (rc.VpnFacts("a", connected=False, down_for=1),)
    assert rc.plan(snapshot(serving, idle, vpns=alone)).actions == ()  # nowhere better to go


def test_standbys_are_kept_at_the_wanted_count_from_current_settings() -> None:
    standbys = (
        rc.StandbyFacts("gone", listed=False),
        rc.StandbyFacts("started", listed=True, never_started=False),
        rc.StandbyFacts("stale", listed=True, stale=True),
        rc.StandbyFacts("good", listed=True),
    )
    plan = rc.plan(snapshot(standbys=standbys, standby=3))
    assert plan.actions == (
        rc.ForgetStandby("gone"),
        rc.AdoptStandby("started"),  # an engine of ours now, on the port it holds
        rc.RemoveStandby("stale", rc.Reason.standby_stale),
        rc.CreateStandby(2),  # the good one and two more
    )


def test_standbys_beyond_the_wanted_count_go_counting_those_being_created() -> None:
    standbys = (rc.StandbyFacts("a", listed=True), rc.StandbyFacts("b", listed=True))
    plan = rc.plan(snapshot(standbys=standbys, standby=2, standby_creating=1))
    assert plan.actions == (rc.RemoveStandby("a", rc.Reason.standby_surplus),)


def test_standbys_are_made_only_while_a_start_would_fit_under_max() -> None:
    busy = [engine(f"e{n}", streams=1, serving=True) for n in range(3)]
    assert rc.plan(snapshot(*busy, standby=2, maximum=4)).actions == (rc.CreateStandby(1),)
    assert rc.plan(snapshot(*busy, standby=2, maximum=4, creating=1)).actions == ()
    # min_free makes this pass create the last engine max allows: no standby beside it.
    assert rc.plan(snapshot(*busy, standby=2, maximum=4, min_free=1)).actions == (rc.Create(1),)
    started = (rc.StandbyFacts("s", listed=True, never_started=False),)  # it counts from now on
    assert rc.plan(snapshot(*busy, standbys=started, standby=1, maximum=4)).actions == (rc.AdoptStandby("s"),)


# Idempotency: carry the actions out on the facts, plan again: nothing more to do.

engine_facts = st.builds(
    rc.EngineFacts,
    id=st.uuids().map(str),
    vpn=st.sampled_from([None, "a", "b"]),
    listed=st.booleans(),
    running=st.booleans(),
    stopped_for=st.one_of(st.none(), st.floats(0, 10)),
    unhealthy_for=st.one_of(st.none(), st.floats(0, 120)),
    streams=st.integers(0, 3),
    serving=st.booleans(),
    idle_for=st.floats(0, 120),
    draining=st.booleans(),
    drifted=st.booleans(),
    namespace_lost=st.booleans(),
    withdrawn=st.booleans(),
)


standby_facts = st.builds(
    rc.StandbyFacts,
    id=st.uuids().map(str),
    listed=st.booleans(),
    never_started=st.booleans(),
    stale=st.booleans(),
)


def _apply(before: rc.Snapshot, plan: rc.Plan) -> rc.Snapshot:
    """What the runtime looks like once the plan's actions are done (creations still starting)."""
    gone = {a.engine_id for a in plan.actions if isinstance(a, rc.Forget | rc.Remove)}
    drained = {a.engine_id for a in plan.actions if isinstance(a, rc.Drain)}
    created = sum(a.count for a in plan.actions if isinstance(a, rc.Create))
    engines = tuple(
        dataclasses.replace(e, draining=True, withdrawn=True) if e.id in drained else e
        for e in before.engines
        if e.id not in gone
    )
    restarted = {a.key for a in plan.actions if isinstance(a, rc.RestartVpn)}
    vpns = tuple(dataclasses.replace(v, restarted_for=0.0) if v.key in restarted else v for v in before.vpns)
    replaced = any(isinstance(a, rc.Remove) and a.reason is rc.Reason.unhealthy for a in plan.actions)
    dropped = {a.container_id for a in plan.actions if isinstance(a, rc.ForgetStandby | rc.RemoveStandby)}
    adopted = {a.container_id for a in plan.actions if isinstance(a, rc.AdoptStandby)}
    new_standbys = sum(a.count for a in plan.actions if isinstance(a, rc.CreateStandby))
    engines += tuple(rc.EngineFacts(standby, None, listed=True, running=True) for standby in adopted)
    return dataclasses.replace(
        before,
        engines=engines,
        orphans=(),
        vpns=vpns,
        creating=before.creating + created,
        since_replacement=0.0 if replaced else before.since_replacement,
        standbys=tuple(s for s in before.standbys if s.id not in dropped | adopted),
        standby_creating=before.standby_creating + new_standbys,
    )


@settings(max_examples=300, deadline=None)
@given(
    engines=st.lists(engine_facts, max_size=8, unique_by=lambda e: e.id),
    minimum=st.integers(0, 3),
    min_free=st.integers(0, 3),
    maximum=st.integers(1, 8),
    vpn_a=st.booleans(),
    vpn_b=st.booleans(),
    standbys=st.lists(standby_facts, max_size=4, unique_by=lambda s: s.id),
    standby=st.integers(0, 3),
    standby_creating=st.integers(0, 2),
)
def test_a_second_pass_over_the_result_of_the_first_changes_nothing(
    engines: list[rc.EngineFacts],
    minimum: int,
    min_free: int,
    maximum: int,
    vpn_a: bool,
    vpn_b: bool,
    standbys: list[rc.StandbyFacts],
    standby: int,
    standby_creating: int,
) -> None:
    vpns = (
        rc.VpnFacts("a", connected=vpn_a, down_for=None if vpn_a else 5),
        rc.VpnFacts("b", connected=vpn_b, down_for=None if vpn_b else 5),
    )
    first = snapshot(
        *engines,
        vpns=vpns,
        minimum=minimum,
        min_free=min_free,
        maximum=max(maximum, minimum),
        standbys=tuple(standbys),
        standby=standby,
        standby_creating=standby_creating,
    )
    plan = rc.plan(first)
    after = _apply(first, plan)
    again = rc.plan(after)
    assert again.actions == (), (plan.actions, again.actions)
    # Never more engines than max, whatever the facts.
    created = sum(a.count for a in plan.actions if isinstance(a, rc.Create))
    kept = len(after.engines)
    assert created == 0 or kept + first.creating + created <= first.maximum
    # Never more standbys than wanted, and a new one only where its start would still fit under max.
    made = sum(a.count for a in plan.actions if isinstance(a, rc.CreateStandby))
    assert made == 0 or len(after.standbys) + after.standby_creating <= standby
    assert made == 0 or kept + after.creating + len(after.standbys) + after.standby_creating <= first.maximum
