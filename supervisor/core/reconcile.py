"""The reconciler's decisions: from one snapshot of what should run and what does, the actions that close
the difference.

Pure: plain facts in (durations already measured, so no clock), actions out. Level-triggered and
idempotent: the facts after the actions are taken plan nothing more, so running a pass twice, or a pass
whose action failed, is always safe; a failed action is simply planned again on the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from supervisor.core.health import should_replace
from supervisor.core.ports import VpnKey
from supervisor.core.scaling import EngineLoad, desired_engines, engines_to_remove, has_room

# An orphan is judged only once it has been seen this long: a container someone is creating right now
# (`docker run` between create and start) must not be taken for the debris of an interrupted provision.
ORPHAN_SETTLE_S = 5.0


class Phase(StrEnum):
    """Where an engine is in its life; every engine the supervisor holds is in exactly one."""

    creating = "creating"  # a slot is reserved and Docker is creating the container
    starting = "starting"  # its container runs; its HTTP API has not answered yet
    ready = "ready"  # it answers: offered to proxies unless withdrawn
    unhealthy = "unhealthy"  # it failed its health checks (withdrawn)
    stopped = "stopped"  # Docker reports its container not running (withdrawn)
    draining = "draining"  # serves its last streams, offered to nobody, removed once idle
    removing = "removing"  # Docker is removing it; its port is held until Docker is done
    gone = "gone"  # removed, or no longer in Docker (kept in the store only)


def engine_phase(*, ready: bool, running: bool, unhealthy: bool, draining: bool) -> Phase:
    if not running:
        return Phase.stopped
    if draining:
        return Phase.draining
    if unhealthy:
        return Phase.unhealthy
    return Phase.ready if ready else Phase.starting


class Reason(StrEnum):
    """Why an engine or container is removed: the event log's words, and the streams' end reason."""

    gone = "no longer in Docker"
    stopped = "its container stopped and was not restarted"
    namespace_lost = "its VPN restarted or was replaced: no network"
    drained = "drained"
    unhealthy = "unhealthy past its grace period; replaced"
    unhealthy_serving = "unhealthy past twice its grace period while carrying streams; replaced"
    idle = "idle beyond the desired engine count"
    orphan_never_started = "created by an interrupted provision, never started"
    orphan_stopped = "not held by this supervisor and not running"
    orphan_no_slot = "not held by this supervisor and its port is taken or outside the ranges"
    orphan_namespace = "not held by this supervisor and its VPN namespace is gone"
    standby_stale = "a standby made from other settings, an older image or a VPN namespace now gone"
    standby_surplus = "a standby beyond replicas.standby"
    standby_vpn_down = "a standby behind a VPN that is down while another serves: made again there"


class DrainReason(StrEnum):
    drifted = "its spec differs from what the current settings create"
    cache_over_cap = "its disk use passed engine.cache.limit; replaced by a fresh one"
    forwarded_port_changed = "its VPN forwards another port now"
    vpn_failover = "its VPN is down while another is connected"


STREAM_END_REASON: dict[Reason, str] = {
    Reason.gone: "engine_gone",
    Reason.stopped: "engine_stopped",
    Reason.namespace_lost: "vpn_restarted",
    Reason.unhealthy_serving: "engine_unhealthy",
}


@dataclass(frozen=True)
class EngineFacts:
    """One engine the supervisor holds, as this pass sees it."""

    id: str
    vpn: VpnKey
    listed: bool  # Docker listed it in this pass (only engines held before the listing are judged)
    running: bool
    stopped_for: float | None = None  # seconds since Docker reported it not running
    unhealthy_for: float | None = None
    streams: int = 0  # recorded streams
    serving: bool = False  # recorded streams, or sessions the engine itself reports
    idle_for: float = 0.0  # seconds since its last stream ended (or it started)
    draining: bool = False
    drifted: bool = False  # created from a spec other than what the current settings would create
    namespace_lost: bool = False  # its gluetun restarted or was replaced since it was created
    withdrawn: bool = False  # not offered to proxies right now (any reason)
    claimed: bool = False  # handed to a client whose stream has not started yet: not idle
    cache_over_cap: bool = False  # its disk use at the last cache pass passed engine.cache.limit


@dataclass(frozen=True)
class OrphanFacts:
    """A labelled engine container of this stack that the supervisor does not hold."""

    id: str
    running: bool
    never_started: bool = False
    slot_free: bool = False  # its labelled port is in the current ranges and held by nobody
    namespace_ok: bool = True  # standalone, or made in its gluetun's current namespace
    seen_for: float = ORPHAN_SETTLE_S  # seconds since a pass first listed it


@dataclass(frozen=True)
class StandbyFacts:
    """A standby the supervisor holds: created, never started, its slot held, not counted against max."""

    id: str
    listed: bool  # Docker listed it in this pass
    never_started: bool = True  # False: something started it behind the supervisor's back
    stale: bool = False  # starting it would make a drifted engine, or one in a lost namespace
    vpn: str | None = None  # its VPN service (None: standalone)


@dataclass(frozen=True)
class VpnFacts:
    key: str
    connected: bool
    down_for: float | None = None  # seconds since it was last seen connected (None: connected)
    restarted_for: float | None = None  # seconds since the supervisor last restarted it
    container_known: bool = True


@dataclass(frozen=True)
class Timings:
    restart_window_s: float  # how long a stopped engine is given for its restart policy to bring it back
    unhealthy_grace_s: float
    replacement_cooldown_s: float
    idle_grace_s: float
    vpn_restart_timeout_s: float


@dataclass(frozen=True)
class Snapshot:
    engines: tuple[EngineFacts, ...]
    orphans: tuple[OrphanFacts, ...]
    vpns: tuple[VpnFacts, ...]
    timings: Timings
    minimum: int
    min_free: int
    maximum: int
    stream_limit: int
    scale_target: int | None = None
    creating: int = 0  # provisions reserved whose containers Docker is still creating
    removing: int = 0  # engines out of the list whose removal is in flight (they still count)
    since_replacement: float | None = None  # seconds since the last unhealthy replacement
    standbys: tuple[StandbyFacts, ...] = ()
    standby: int = 0  # standbys to keep (replicas.standby)
    standby_creating: int = 0  # standbys Docker is creating right now


@dataclass(frozen=True)
class Forget:
    engine_id: str
    reason: Reason = Reason.gone


@dataclass(frozen=True)
class Remove:
    """Remove an engine the supervisor holds (its streams end with `stream_reason`)."""

    engine_id: str
    reason: Reason | DrainReason
    stream_reason: str = "engine_removed"


@dataclass(frozen=True)
class Drain:
    engine_id: str
    reason: DrainReason


@dataclass(frozen=True)
class Adopt:
    container_id: str


@dataclass(frozen=True)
class RemoveOrphan:
    container_id: str
    reason: Reason


@dataclass(frozen=True)
class Create:
    count: int


@dataclass(frozen=True)
class RestartVpn:
    key: str


@dataclass(frozen=True)
class ForgetStandby:
    """Let go of a standby Docker no longer lists: its port is free again."""

    container_id: str


@dataclass(frozen=True)
class AdoptStandby:
    """A standby somebody started (`docker start`): an engine of ours on the port it holds already, judged
    by readiness like any new engine. Freeing its port instead would let the next standby take it."""

    container_id: str


@dataclass(frozen=True)
class RemoveStandby:
    container_id: str
    reason: Reason


@dataclass(frozen=True)
class CreateStandby:
    count: int


Action = (
    Forget
    | Remove
    | Drain
    | Adopt
    | RemoveOrphan
    | AdoptStandby
    | Create
    | RestartVpn
    | ForgetStandby
    | RemoveStandby
    | CreateStandby
)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    desired: int = 0
    wake_in: float | None = None  # when a waiting rule fires (a restart window ends): pass again then


def plan(snapshot: Snapshot) -> Plan:
    """Every action that closes the difference between desired and actual state, in a safe order."""
    timings = snapshot.timings
    actions: list[Action] = []
    waits: list[float] = []
    kept: list[EngineFacts] = []
    replaced_unhealthy = False
    any_connected = any(vpn.connected for vpn in snapshot.vpns)
    down = {vpn.key for vpn in snapshot.vpns if not vpn.connected}
    for engine in snapshot.engines:
        removal = _removal(engine, timings, waits)
        if removal is None and engine.unhealthy_for is not None:
            # An engine that has not answered for twice its grace cannot be serving its streams either (a
            # stream whose engine does not answer never gets a stale verdict): it is replaced all the same.
            lost = engine.serving and engine.unhealthy_for >= 2 * timings.unhealthy_grace_s
            if not replaced_unhealthy and should_replace(
                -engine.unhealthy_for,
                0.0,
                timings.unhealthy_grace_s,
                1 if engine.serving and not lost else 0,
                None if snapshot.since_replacement is None else -snapshot.since_replacement,
                timings.replacement_cooldown_s,
            ):
                replaced_unhealthy = True  # one per cooldown: a flapping VPN must not churn every engine
                removal = (
                    Remove(engine.id, Reason.unhealthy_serving, STREAM_END_REASON[Reason.unhealthy_serving])
                    if lost
                    else Remove(engine.id, Reason.unhealthy)
                )
            elif engine.unhealthy_for < timings.unhealthy_grace_s:
                waits.append(timings.unhealthy_grace_s - engine.unhealthy_for)
            elif engine.serving and not lost:
                waits.append(2 * timings.unhealthy_grace_s - engine.unhealthy_for)
        if removal is not None:
            actions.append(removal)
            continue
        if engine.draining and not engine.serving:
            actions.append(Remove(engine.id, Reason.drained))
            continue
        drain = None if engine.draining else _drain_reason(engine, down, any_connected)
        if drain is not None and not engine.serving:
            actions.append(Remove(engine.id, drain))
            continue
        if drain is not None:
            actions.append(Drain(engine.id, drain))
            engine = EngineFacts(**{**engine.__dict__, "draining": True, "withdrawn": True})
        kept.append(engine)
    actions.extend(_orphans(snapshot.orphans, waits))
    actions.extend(_vpn_restarts(snapshot.vpns, timings.vpn_restart_timeout_s, waits))
    # A standby somebody started is adopted by this pass: an engine starting, as a creation in flight.
    started = sum(1 for standby in snapshot.standbys if standby.listed and not standby.never_started)
    counted = replace(snapshot, creating=snapshot.creating + started)
    desired, scaling = _scale(counted, kept)
    actions.extend(scaling)
    creating_now = sum(action.count for action in scaling if isinstance(action, Create))
    leaving = {action.engine_id for action in scaling if isinstance(action, Remove)}
    staying = [engine for engine in kept if engine.id not in leaving]
    actions.extend(_standbys(counted, staying, creating_now, down if any_connected else set()))
    return Plan(tuple(actions), desired, min(waits) if waits else None)


def _removal(engine: EngineFacts, timings: Timings, waits: list[float]) -> Remove | Forget | None:
    if not engine.listed:
        return Forget(engine.id)
    if not engine.running:
        stopped_for = engine.stopped_for or 0.0
        if stopped_for >= timings.restart_window_s:
            return Remove(engine.id, Reason.stopped, STREAM_END_REASON[Reason.stopped])
        waits.append(timings.restart_window_s - stopped_for)
        return None
    if engine.namespace_lost:
        return Remove(engine.id, Reason.namespace_lost, STREAM_END_REASON[Reason.namespace_lost])
    return None


def _drain_reason(engine: EngineFacts, down: set[str], any_connected: bool) -> DrainReason | None:
    """Why an engine that still runs should stop taking viewers."""
    if engine.drifted:
        return DrainReason.drifted
    if engine.cache_over_cap:  # replaced when idle: a fresh container's writable layer is empty
        return DrainReason.cache_over_cap
    if engine.vpn is not None and engine.vpn in down and any_connected:
        return DrainReason.vpn_failover
    return None


def _orphans(orphans: tuple[OrphanFacts, ...], waits: list[float]) -> list[Action]:
    actions: list[Action] = []
    for orphan in orphans:
        if orphan.seen_for < ORPHAN_SETTLE_S:
            waits.append(ORPHAN_SETTLE_S - orphan.seen_for)
        elif orphan.never_started:
            actions.append(RemoveOrphan(orphan.id, Reason.orphan_never_started))
        elif not orphan.running:
            actions.append(RemoveOrphan(orphan.id, Reason.orphan_stopped))
        elif not orphan.namespace_ok:
            actions.append(RemoveOrphan(orphan.id, Reason.orphan_namespace))
        elif not orphan.slot_free:
            actions.append(RemoveOrphan(orphan.id, Reason.orphan_no_slot))
        else:
            actions.append(Adopt(orphan.id))
    return actions


def _vpn_restarts(vpns: tuple[VpnFacts, ...], timeout_s: float, waits: list[float]) -> list[Action]:
    """A VPN down past its restart timeout is restarted, at most once per timeout."""
    actions: list[Action] = []
    for vpn in vpns:
        if vpn.connected or vpn.down_for is None or not vpn.container_known:
            continue
        if vpn.restarted_for is not None and vpn.restarted_for < timeout_s:
            waits.append(timeout_s - vpn.restarted_for)
            continue
        if vpn.down_for >= timeout_s:
            actions.append(RestartVpn(vpn.key))
        else:
            waits.append(timeout_s - vpn.down_for)
    return actions


def _scale(snapshot: Snapshot, kept: list[EngineFacts]) -> tuple[int, list[Action]]:
    """Keep `min_free` engines free (offered, with room for a stream) within min and max.

    An engine that cannot take a viewer (full, withdrawn or draining) counts as busy, so its replacement is
    started at once instead of after it is removed."""
    busy = sum(1 for e in kept if e.withdrawn or e.draining or not has_room(e.streams, snapshot.stream_limit))
    desired = desired_engines(
        busy, snapshot.minimum, snapshot.min_free, snapshot.maximum, snapshot.scale_target
    )
    have = len(kept) + snapshot.creating
    if have < desired:
        room = snapshot.maximum - len(kept) - snapshot.creating - snapshot.removing
        count = min(desired - have, room)
        return desired, [Create(count)] if count > 0 else []
    loads = [
        EngineLoad(e.id, 1 if e.serving or e.claimed else 0, -e.idle_for)
        for e in kept
        if not e.draining  # a draining engine leaves by its own rule
    ]
    surplus = have - desired
    idle = engines_to_remove(loads, len(loads) - surplus, 0.0, snapshot.timings.idle_grace_s)
    return desired, [Remove(engine_id, Reason.idle) for engine_id in idle]


def _standbys(
    snapshot: Snapshot, kept: list[EngineFacts], creating_now: int, failed_over: set[str]
) -> list[Action]:
    """Keep `standby` containers created and never started, each made from the current settings, while
    an engine started from one would fit under `max` (a standby holds a port, not a replica), counting
    the engines this pass creates. One behind a VPN that is down while another serves (`failed_over`)
    is removed, as its engines drain: every cold provision goes to the other VPNs, where it is made
    again."""
    actions: list[Action] = []
    valid = []
    for standby in snapshot.standbys:
        if not standby.listed:
            actions.append(ForgetStandby(standby.id))
        elif not standby.never_started:
            actions.append(AdoptStandby(standby.id))  # counted in `creating` by the caller
        elif standby.stale:
            actions.append(RemoveStandby(standby.id, Reason.standby_stale))
        elif standby.vpn in failed_over:
            actions.append(RemoveStandby(standby.id, Reason.standby_vpn_down))
        else:
            valid.append(standby)
    have = len(valid) + snapshot.standby_creating
    for surplus in valid[: max(0, have - snapshot.standby)]:
        actions.append(RemoveStandby(surplus.id, Reason.standby_surplus))
    room = snapshot.maximum - len(kept) - snapshot.creating - creating_now - snapshot.removing
    count = min(snapshot.standby - have, room - have)
    if count > 0:
        actions.append(CreateStandby(count))
    return actions
