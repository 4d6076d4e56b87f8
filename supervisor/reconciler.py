"""The reconciler: one pass compares what should run with what Docker runs and takes the actions that
close the difference (core/reconcile.py decides; this module only observes and acts).

A pass runs on every Docker event of the stack's containers, after every API change, VPN or stream change
(`kick`), when a waiting rule comes due (a restart window), and on the autoscale ticker as the safety net.
Passes never overlap: a kick during a pass runs one more pass after it. No lock is held across I/O, every
Docker call has the adapter's timeout, and an action that fails is planned again by the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from supervisor.attach import adopt_container
from supervisor.core import labels as label
from supervisor.core import reconcile as rc
from supervisor.core.cache import over_cap
from supervisor.core.capacity import DOCKER_RECHECK_S, ProvisioningBlocked
from supervisor.core.events import EventType
from supervisor.core.offer import namespace_lost
from supervisor.core.ports import PortConflict
from supervisor.core.records import Engine, Standby, serving
from supervisor.errors import SupervisorError
from supervisor.provisioning import Provisioner, ProvisionRequest
from supervisor.runtime.base import (
    ContainerAction,
    ContainerEvent,
    ContainerInfo,
    DaemonUnreachable,
    Runtime,
    RuntimeFailure,
)
from supervisor.state import StackState
from supervisor.store import Store

log = logging.getLogger("supervisor.reconciler")


class Reconciler:
    def __init__(
        self,
        state: StackState,
        runtime: Runtime,
        store: Store,
        provisioner: Provisioner,
        on_vpn_event: Callable[[], None] = lambda: None,
    ) -> None:
        self._state = state
        self._runtime = runtime
        self._store = store
        self._provisioner = provisioner
        self._on_vpn_event = on_vpn_event
        self._wanted = asyncio.Event()
        self.last_plan: rc.Plan = rc.Plan()
        self._events_seen = 0  # Docker events applied so far
        self._event_mark: dict[str, int] = {}  # engine id -> the count when an event last changed it
        self._orphans_seen: dict[str, float] = {}  # orphan id -> when a pass first listed it
        # Engines a die event stopped: only a start event brings them back (Docker may still list a
        # container as running for a moment after its die event).
        self._died: set[str] = set()

    def kick(self) -> None:
        """Ask for a pass soon (coalesced: many kicks during a pass make one more pass)."""
        self._wanted.set()

    def desired(self) -> int:
        return self.last_plan.desired

    async def run(self) -> None:
        """Passes forever: when kicked, when a waiting rule comes due, else every autoscale interval."""
        interval = self._state.config.stack.timings.autoscale_interval_s
        while True:
            wake = self.last_plan.wake_in
            timeout = interval if wake is None else min(interval, max(0.05, wake))
            await self._wait(timeout)
            self._wanted.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("reconcile pass failed; the next pass retries")

    async def _wait(self, timeout: float) -> None:
        kicked = asyncio.ensure_future(self._wanted.wait())
        slept = asyncio.ensure_future(self._state.clock.sleep(timeout))
        try:
            await asyncio.wait({kicked, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (kicked, slept):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def tick(self) -> rc.Plan:
        """One pass: observe, plan, act. Returns the plan it carried out."""
        state = self._state
        known = set(state.engines)  # only engines held before the listing are judged by it
        known_standbys = set(state.standbys)  # and only standbys held then
        mark = self._events_seen  # an event after this is newer than the listing: the event wins
        try:
            found = await self._runtime.list(label.engine_selector(state.config.stack.stack))
        except DaemonUnreachable as error:
            state.docker_failed(str(error))
            log.warning("reconcile waits: the Docker daemon does not answer")
            return self.last_plan  # judge nothing on a listing that did not come
        state.docker_answered()
        listed = {info.id: info for info in found}
        self._observe(known, listed, mark)
        snapshot = self._snapshot(known, listed, known_standbys)
        plan = rc.plan(snapshot)
        self.last_plan = plan
        await self._act(plan, listed)
        return plan

    def _observe(self, known: set[str], listed: dict[str, ContainerInfo], mark: int) -> None:
        for container_id in known:
            engine = self._state.engines.get(container_id)
            info = listed.get(container_id)
            if engine is None or info is None:
                continue
            if self._event_mark.get(container_id, -1) > mark:
                continue  # an event arrived while Docker answered: the listing may predate it
            if info.running and container_id in self._died:
                continue  # it died; its start event, not a listing, says when it is back
            self._set_running(engine, info.running)
        self._event_mark = {k: v for k, v in self._event_mark.items() if k in self._state.engines}
        self._died &= set(self._state.engines)

    def _set_running(self, engine: Engine, running: bool) -> None:
        if running == engine.container_running:
            return
        engine.container_running = running
        now = self._state.clock.monotonic()
        if running:
            engine.stopped_since = None
            self._provisioner.record(EventType.engine_started, "running again", engine)
        else:
            engine.stopped_since = now
            self._provisioner.record(EventType.engine_stopped, "its container stopped: withdrawn", engine)
            log.warning("engine %s stopped; withdrawn at once", engine.container_name)

    def _snapshot(
        self, known: set[str], listed: dict[str, ContainerInfo], known_standbys: set[str]
    ) -> rc.Snapshot:
        state = self._state
        stack = state.config.stack
        timings = stack.timings
        now = state.clock.monotonic()
        engines = []
        for container_id in known:
            engine = state.engines.get(container_id)
            if engine is None:
                continue  # removed while the listing was in flight
            vpn = state.vpns.get(engine.slot.vpn)
            lost = (
                engine.slot.vpn is not None
                and vpn is not None
                and vpn.container_id is not None
                and namespace_lost(engine.labels, vpn.container_id, vpn.started_at)
            )
            engines.append(
                rc.EngineFacts(
                    id=engine.container_id,
                    vpn=engine.slot.vpn,
                    listed=container_id in listed,
                    running=engine.container_running,
                    stopped_for=None if engine.stopped_since is None else now - engine.stopped_since,
                    unhealthy_for=None if engine.unhealthy_since is None else now - engine.unhealthy_since,
                    streams=len(engine.streams),
                    serving=serving(engine),
                    claimed=engine.claimed_until > now,
                    idle_for=now - engine.idle_since,
                    draining=engine.draining is not None,
                    drifted=state.drifted(engine.labels, engine.slot, engine.image_id),
                    namespace_lost=lost,
                    withdrawn=state.withdrawal(engine) is not None,
                    cache_over_cap=over_cap(engine.cache_size_bytes, stack.engine.cache.limit),
                )
            )
        held = set(state.engines) | set(state.standbys) | self._provisioner.busy_ids()
        orphans = [
            self._orphan(info, now)
            for info in listed.values()
            if info.id not in held and info.name not in self._provisioner.creating_names()
        ]
        seen = {orphan.id for orphan in orphans}
        self._orphans_seen = {k: v for k, v in self._orphans_seen.items() if k in seen}
        vpns = [
            rc.VpnFacts(
                key=key,
                connected=vpn.connected,
                down_for=None if vpn.down_since is None else now - vpn.down_since,
                restarted_for=None if vpn.restarted_at is None else now - vpn.restarted_at,
                container_known=vpn.container_id is not None,
            )
            for key, vpn in state.vpns.items()
            if key is not None
        ]
        replicas = stack.replicas
        return rc.Snapshot(
            engines=tuple(engines),
            orphans=tuple(orphans),
            vpns=tuple(vpns),
            timings=rc.Timings(
                restart_window_s=timings.engine_restart_window_s,
                unhealthy_grace_s=timings.health_unhealthy_grace_period_s,
                replacement_cooldown_s=timings.health_replacement_cooldown_s,
                idle_grace_s=timings.engine_grace_period_s,
                vpn_restart_timeout_s=timings.vpn_restart_timeout_s,
            ),
            minimum=replicas.min,
            min_free=replicas.min_free,
            maximum=replicas.max,
            stream_limit=replicas.max_streams_per_engine,
            scale_target=state.scale_target,
            creating=state.pending,
            removing=state.removing,
            since_replacement=None if state.last_replacement is None else now - state.last_replacement,
            standbys=tuple(
                self._standby(standby, listed.get(standby.container_id))
                for container_id in known_standbys
                if (standby := state.standbys.get(container_id)) is not None
            ),
            standby=replicas.standby,
            standby_creating=state.standby_creating,
        )

    def _standby(self, standby: Standby, info: ContainerInfo | None) -> rc.StandbyFacts:
        return rc.StandbyFacts(
            id=standby.container_id,
            listed=info is not None,
            # Paused standbys are started containers that Docker lists as paused: still standbys.
            never_started=info is None or info.never_started or (standby.paused and info.paused),
            stale=self._state.standby_stale(standby, info.image_id if info else None),
            vpn=standby.slot.vpn,
        )

    def _orphan(self, info: ContainerInfo, now: float) -> rc.OrphanFacts:
        state = self._state
        first_seen = self._orphans_seen.setdefault(info.id, now)
        key = info.labels.get(label.VPN)
        vpn = state.vpns.get(key)
        namespace_ok = key is None or (
            vpn is not None
            and vpn.container_id is not None
            and not namespace_lost(info.labels, vpn.container_id, vpn.started_at)
        )
        return rc.OrphanFacts(
            id=info.id,
            running=info.running,
            never_started=info.never_started,
            slot_free=state.pool.slot_free(key, info.labels.get(label.HOST_HTTP_PORT)),
            namespace_ok=namespace_ok,
            seen_for=now - first_seen,
        )

    async def _act(self, plan: rc.Plan, listed: dict[str, ContainerInfo]) -> None:
        removals = []
        for action in plan.actions:
            match action:
                case rc.Forget(engine_id, reason):
                    if (engine := self._state.engines.get(engine_id)) is not None:
                        self._provisioner.forget(engine, reason)
                case rc.Remove(engine_id, reason, stream_reason):
                    removals.append(self._remove(engine_id, reason, stream_reason))
                case rc.Drain(engine_id, reason):
                    self._drain(engine_id, reason)
                case rc.Adopt(container_id):
                    self._adopt(listed[container_id], "orphan found running")
                case rc.RemoveOrphan(container_id, reason):
                    removals.append(self._remove_orphan(listed[container_id], reason))
                case rc.RestartVpn(key):
                    removals.append(self._restart_vpn(key))
                case rc.Create(count):
                    removals.append(self._create(count))
                case rc.ForgetStandby(container_id):
                    self._provisioner.forget_standby(container_id)
                case rc.AdoptStandby(container_id):
                    self._provisioner.forget_standby(container_id)  # no await: its port moves straight over
                    self._adopt(listed[container_id], "standby started by somebody else")
                case rc.RemoveStandby(container_id, reason):
                    removals.append(self._remove_standby(container_id, reason))
                case rc.CreateStandby(count):
                    removals.append(self._create_standbys(count))
        await asyncio.gather(*removals)

    async def _remove(self, engine_id: str, reason: rc.Reason | rc.DrainReason, stream_reason: str) -> None:
        engine = self._state.engines.get(engine_id)
        if engine is None:
            return
        leaves_idle = reason in (rc.Reason.idle, rc.Reason.drained) or isinstance(reason, rc.DrainReason)
        if leaves_idle and serving(engine):
            return  # it got a stream since the snapshot: the next pass judges it again (a drain, then)
        if reason in (rc.Reason.unhealthy, rc.Reason.unhealthy_serving):
            self._state.last_replacement = self._state.clock.monotonic()
        for_cache = rc.DrainReason.cache_over_cap in (reason, engine.draining)
        try:
            await self._provisioner.remove(engine_id, str(reason), stream_reason)
        except (RuntimeFailure, SupervisorError) as error:
            log.warning("could not remove %s (%s): %s; the next pass retries", engine_id[:12], reason, error)
            return
        if for_cache:
            self._provisioner.metrics.cache_cleanups.labels(by="replacement").inc()

    def _drain(self, engine_id: str, reason: rc.DrainReason) -> None:
        engine = self._state.engines.get(engine_id)
        if engine is None or engine.draining is not None:
            return
        engine.draining = str(reason)
        kind = EventType.failover if reason is rc.DrainReason.vpn_failover else EventType.engine_draining
        self._provisioner.record(kind, f"draining: {reason}", engine)
        log.info("engine %s drains: %s", engine.container_name, reason)

    def _adopt(self, info: ContainerInfo, found: str) -> None:
        try:
            engine = adopt_container(self._state, info, self._store)
        except PortConflict as error:  # its slot was taken since the snapshot: the next pass removes it
            log.warning("orphan %s not adopted: %s", info.name, error)
            return
        engine.adopted = True
        engine.ready = False  # judged by readiness like a new engine: adopted only once it answers
        self._provisioner.record(EventType.engine_adopted, f"{found} on port {engine.host_http_port}", engine)
        log.info("adopted engine %s (%s) on port %s", info.name, found, engine.host_http_port)

    async def _remove_orphan(self, info: ContainerInfo, reason: rc.Reason) -> None:
        try:
            await self._runtime.stop_and_remove(info.id)
        except RuntimeFailure as error:
            log.warning("could not remove orphan %s: %s; the next pass retries", info.name, error)
            return
        self._provisioner.record(EventType.orphan_removed, f"{info.name}: {reason}")
        log.warning("removed orphan container %s: %s", info.name, reason)

    async def _restart_vpn(self, key: str) -> None:
        vpn = self._state.vpns[key]
        if vpn.container_id is None:
            return
        vpn.restarted_at = self._state.clock.monotonic()
        down = self._state.clock.monotonic() - (vpn.down_since or vpn.restarted_at)
        self._provisioner.record(EventType.vpn_restarted, f"VPN {key} down for {down:.0f}s; restarted")
        log.warning("VPN %s has been down for %.0fs; restarting its container", key, down)
        try:
            await self._runtime.restart(vpn.container_id)
        except RuntimeFailure as error:
            log.error("could not restart VPN %s: %s", key, error)

    async def _create(self, count: int) -> None:
        creations = []
        for _ in range(count):
            try:
                creations.append(self._provisioner.provision(ProvisionRequest()))
            except (ProvisioningBlocked, SupervisorError) as refusal:
                log.warning("cannot add an engine: %s", refusal)
                break
        for result in await asyncio.gather(*creations, return_exceptions=True):
            if isinstance(result, ProvisioningBlocked | SupervisorError):
                log.warning("could not add an engine: %s", result)
            elif isinstance(result, BaseException):
                raise result

    async def _remove_standby(self, container_id: str, reason: rc.Reason) -> None:
        try:
            await self._provisioner.remove_standby(container_id, str(reason))
        except RuntimeFailure as error:
            log.warning("could not remove standby %s: %s; the next pass retries", container_id[:12], error)

    async def _create_standbys(self, count: int) -> None:
        for _ in range(count):  # one at a time: each goes where the next engine would
            try:
                await self._provisioner.create_standby()
            except ProvisioningBlocked as refusal:
                log.debug("no standby now: %s", refusal)
                return

    # Docker's event stream

    async def watch(self) -> None:
        """Follow the stack's container events for ever; after a broken stream, a full pass (events may
        have been missed) and listen again."""
        while True:
            try:
                async for event in self._runtime.events({label.COMPOSE_PROJECT: self._state.project or ""}):
                    self.on_event(event)
            except DaemonUnreachable as error:
                self._state.docker_failed(str(error))
                log.warning("Docker events: %s; listening again", error)
            except RuntimeFailure as error:
                log.warning("Docker events: %s; listening again", error)
            self._died.clear()  # start events may have been missed: listings are the truth again
            self.kick()
            await self._state.clock.sleep(DOCKER_RECHECK_S)

    def on_event(self, event: ContainerEvent) -> None:
        """Synchronous: what an event says is true at once (so `/engines` withdraws a dead engine before
        any await), then a pass converges."""
        self._state.docker_answered()
        self._events_seen += 1
        engine = self._state.engines.get(event.container_id)
        if engine is not None:
            self._event_mark[engine.container_id] = self._events_seen
            if event.action is ContainerAction.die:
                self._died.add(engine.container_id)
                self._set_running(engine, False)
            elif event.action is ContainerAction.start:
                self._died.discard(engine.container_id)
                self._set_running(engine, True)
            elif event.action is ContainerAction.health_status and event.health == "unhealthy":
                self._state.mark_unhealthy(engine)
            self.kick()
        elif event.labels.get(label.COMPOSE_SERVICE) in self._state.vpns:
            self._on_vpn_event()
            self.kick()
        elif event.labels.get(label.ROLE) == label.ENGINE_ROLE:
            self.kick()  # a container we do not hold: an orphan to adopt or remove, or our own creation
