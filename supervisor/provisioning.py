"""Provisioning and removing engines: reserve in memory (synchronously), then call the runtime.

The reservation step (capacity check, VPN choice, port) has no await in it, so concurrent requests cannot
interleave there; the Docker calls run outside it, bounded by a semaphore, never under a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from supervisor.core import labels as label
from supervisor.core.breaker import BreakerState
from supervisor.core.capacity import DOCKER_RECHECK_S, BlockCode, ProvisioningBlocked, choose_vpn
from supervisor.core.environment import PORT_ENVIRONMENT, cache_flags, cache_mounts, engine_environment
from supervisor.core.events import EventType
from supervisor.core.naming import engine_name
from supervisor.core.offer import CLAIM_S, reusable
from supervisor.core.ports import PORT_ATTEMPTS, PORT_QUARANTINE_S, PortConflict, Slot, VpnKey
from supervisor.core.records import Engine, Standby, serving
from supervisor.core.spec_hash import settings_hash
from supervisor.errors import InvalidInput, NotFound, PortTaken, ProvisionFailed
from supervisor.metrics import Metrics
from supervisor.runtime.base import (
    ContainerInfo,
    ContainerSpec,
    DaemonUnreachable,
    ImageMissing,
    PortUnavailable,
    PublishedPort,
    Runtime,
    RuntimeFailure,
)
from supervisor.state import StackState
from supervisor.store import Store
from supervisor.streams import end_engine_streams

log = logging.getLogger("supervisor.provisioning")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STANDBY_POLL_S = 0.1  # how often a paused-mode standby is asked whether its engine answers yet


@dataclass(frozen=True)
class ProvisionRequest:
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    host_port: int | None = None


class Provisioner:
    def __init__(self, state: StackState, runtime: Runtime, store: Store, metrics: Metrics) -> None:
        self._state = state
        self._runtime = runtime
        self._store = store
        self._metrics = metrics
        self._in_flight = asyncio.Semaphore(state.config.env.max_in_flight)
        self._forwarding: set[VpnKey] = set()  # VPNs whose forwarded engine is being created
        self._creating: set[str] = set()  # container names Docker is creating (not orphans)
        self._removing: set[str] = set()  # container ids Docker is removing (not orphans either)
        self._made: dict[Slot, asyncio.Event] = {}  # set once the standby being made on a slot is done
        self._handover: dict[Slot, asyncio.Event] = {}  # claimed slots: their standby goes first

        # How a paused-mode standby is asked whether its engine answers (set by the service: its probes).
        self.engine_answers: Callable[[str, int], Awaitable[bool]] | None = None

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    def creating_names(self) -> set[str]:
        return set(self._creating)

    def busy_ids(self) -> set[str]:
        return set(self._removing)

    def acquire(self, request: ProvisionRequest) -> Awaitable[Engine]:
        """A proxy's provision: an engine that is ready, offered, unclaimed and carries no stream is handed
        out at once (one that finished after its client gave up, or a free idle one), so a client's retry
        never strands an engine; else a new one is created. Either way it is claimed for CLAIM_S."""
        _check_request(request, self._state.config.stack.engine.allowed_env)
        now = self._state.clock.monotonic()
        if request == ProvisionRequest():  # a plain request: any engine of the profile will do
            for engine in self._state.engines.values():
                if reusable(
                    ready=engine.ready,
                    offered=self._state.withdrawal(engine) is None,
                    serving=serving(engine),
                    claimed=engine.claimed_until > now,
                ):
                    engine.claimed_until = now + CLAIM_S
                    self._metrics.provision_attempts.labels(result="reused").inc()
                    self.record(EventType.engine_reused, "handed out again: ready and unclaimed", engine)
                    return _done(engine)
        return self._claimed(self.provision(request))

    async def _claimed(self, creation: Awaitable[Engine]) -> Engine:
        engine = await creation
        engine.claimed_until = self._state.clock.monotonic() + CLAIM_S
        return engine

    def provision(self, request: ProvisionRequest) -> Awaitable[Engine]:
        """Reserve a slot now (raising a refusal at once), and return the creation to await.

        Reserving before the first await means that callers counting engines (autoscale) see the
        reservation immediately, and concurrent calls can never overshoot `max`.
        """
        _check_request(request, self._state.config.stack.engine.allowed_env)
        started = self._state.clock.monotonic()
        # Raises ProvisioningBlocked / PortTaken: nothing to undo.
        plain = request == ProvisionRequest()
        slot, standby = self._reserve(request.host_port, plain=plain)
        spec, forwarded, start, discard = self._prepare(slot, standby, request, plain)
        self._state.breaker.begin()  # nothing refused it: in half-open, this provision is the one trial
        if forwarded:
            self._forwarding.add(slot.vpn)
        # Shielded: a client hanging up must not leave a container running with its port unrecorded.
        task = asyncio.ensure_future(
            self._create(slot, spec, forwarded, request, standby=start, discard=discard)
        )
        return self._finish(task, started)

    def _prepare(
        self, slot: Slot, standby: Standby | None, request: ProvisionRequest, plain: bool
    ) -> tuple[ContainerSpec, bool, Standby | None, Standby | None]:
        """For a reserved slot and the standby that held it: the spec of the engine to make (the
        standby's own when it is started, else a fresh one), whether it takes the forwarded port, and
        the standby to start or to remove first (a plain request starts it unless it must make way).
        Gives the reservation back when no spec can be made (ProvisionFailed)."""
        start = plain and self._starts(standby)
        try:
            if start and standby is not None:
                spec, forwarded = _standby_spec(standby, self._state), False
            else:
                spec, forwarded = self._spec(slot, request)
        except ProvisionFailed:
            self._give_back(slot, standby)
            raise
        return (spec, forwarded, standby, None) if start else (spec, forwarded, None, standby)

    def _give_back(self, slot: Slot, standby: Standby | None) -> None:
        """Undo a reservation that created nothing: a standby taken for it is held as one again."""
        self._handover.pop(slot, None)
        self._free(slot, standby)
        self._state.pending -= 1

    def _free(self, slot: Slot, standing: Standby | None) -> None:
        """After a failed creation: free its slot, unless a standby's container may still stand on it
        (its removal failed, or the daemon stopped answering mid-start). That one is held as a standby
        again, so no engine is made on its port or name meanwhile; the reconciler forgets it if Docker
        no longer lists it, adopts it if it started, and removes it if it is stale."""
        if standing is not None:
            self._state.standbys[standing.container_id] = standing
        else:
            self._state.pool.release(slot)

    async def _finish(self, task: asyncio.Future[Engine], started: float) -> Engine:
        try:
            return await asyncio.shield(task)
        finally:
            self._metrics.provision_duration.observe(self._state.clock.monotonic() - started)

    def _reserve(self, host_port: int | None, *, plain: bool) -> tuple[Slot, Standby | None]:
        """The slot for the next engine, and the standby that held it (None: the slot was free). A plain
        request takes a standby of the chosen VPN to start, unless that VPN's forwarded engine is to be
        made now (a standby was made with an ordinary P2P port); any other request takes one only when
        standbys hold every free slot left, and removes it to create its own engine there."""
        state = self._state
        try:
            vpn = choose_vpn(state.provision_inputs())
        except Exception:
            self._metrics.provision_attempts.labels(result="refused").inc()
            raise
        standby = None
        if host_port is not None:
            slot: Slot | None = self._reserve_exact(host_port)
        else:
            if plain and not self._wants_forwarded(vpn):
                standby = state.take_standby(vpn)
            slot = standby.slot if standby else state.pool.reserve(vpn, state.clock.monotonic())
            if slot is None:  # every free slot of it is a standby's: start one, or make way for a fresh one
                standby = state.take_standby(vpn, stale_too=True)
                slot = standby.slot if standby else None
            if slot is None:  # or a standby's being made: it gives way, removed once Docker answers
                slot = state.claim_making(vpn)
                if slot is not None:
                    self._handover[slot] = self._made[slot]
        if slot is None:  # choose_vpn saw a free slot; this cannot happen without an await between
            raise PortTaken(f"no free engine port on {vpn or 'the host'}")
        state.pending += 1
        return slot, standby

    def _starts(self, standby: Standby | None) -> bool:
        """Whether a plain request starts the standby its slot came from rather than removing it to create
        a fresh engine there: not a stale one, nor when its VPN's forwarded engine is to be made now (a
        standby has an ordinary P2P port)."""
        return standby is None or not (
            self._state.standby_stale(standby) or self._wants_forwarded(standby.slot.vpn)
        )

    def _wants_forwarded(self, key: VpnKey) -> bool:
        """Whether the next engine on this VPN is to take its forwarded port (it has none yet)."""
        vpn = self._state.vpns[key]
        return (
            vpn.port_forwarding
            and vpn.forwarded_port is not None
            and key not in self._forwarding
            and not any(engine.forwarded for engine in self._state.engines_on(key))
        )

    def _reserve_exact(self, host_port: int) -> Slot:
        for vpn, vpn_state in self._state.vpns.items():
            if host_port in self._state.config.stack.published_engine_ranges()[vpn]:
                if not vpn_state.connected:
                    raise PortTaken(  # the stack's state, not the request: the same request works later
                        f"host_port: {host_port} belongs to VPN {vpn}, which is not connected;"
                        " retry once it is"
                    )
                try:
                    return self._state.pool.reserve_host_port(vpn, host_port)
                except PortConflict:
                    raise PortTaken(f"host_port: {host_port} is already used by another engine") from None
        ranges = ", ".join(str(r) for r in self._state.config.stack.published_engine_ranges().values())
        raise InvalidInput("host_port", f"{host_port} is outside the engine port ranges ({ranges})")

    async def _create(
        self,
        slot: Slot,
        spec: ContainerSpec,
        forwarded: bool,
        request: ProvisionRequest,
        attempt: int = 1,
        standby: Standby | None = None,
        discard: Standby | None = None,
    ) -> Engine:
        state = self._state
        self._creating.add(spec.name)
        standing: Standby | None = None  # a standby whose container still stands on the slot if this fails
        try:
            if (gave_way := self._handover.pop(slot, None)) is not None:
                await gave_way.wait()  # the standby being made on this slot gave way: removed (or never made)
            async with self._in_flight:
                if discard is not None:  # its slot is this engine's: the container goes first
                    standing = discard
                    await self._runtime.stop_and_remove(discard.container_id)
                    standing = None
                    self.record(EventType.standby_removed, f"{discard.name}: its port was needed")
                if standby is not None:
                    standing = standby
                    try:
                        if standby.paused:  # up already: only thawed
                            info = await self._runtime.unpause(standby.container_id, standby.name)
                        else:  # created already: only started
                            info = await self._runtime.start_created(standby.container_id, standby.name)
                    except RuntimeFailure as error:
                        if not isinstance(error, DaemonUnreachable):
                            standing = None  # Docker answered: the runtime removed it
                        raise
                else:
                    info = await self._runtime.create_and_start(spec)
        except DaemonUnreachable as error:
            # The daemon's state, not the image's: provisioning pauses until it answers, the breaker is
            # untouched, and the client is told to wait.
            self._free(slot, standing)
            state.pending -= 1
            state.breaker.abandon_trial()
            state.docker_failed(str(error))
            self._metrics.provision_attempts.labels(result="docker_unreachable").inc()
            log.error("the Docker daemon does not answer: %s", error)
            raise ProvisioningBlocked(
                BlockCode.docker_unreachable,
                f"the Docker daemon does not answer ({error}); provisioning resumes as soon as it does",
                DOCKER_RECHECK_S,
                can_retry=True,
                should_wait=True,
            ) from None
        except ImageMissing as error:
            # The daemon lacks the image: pulled on the supervisor's schedule, never here (a pull can
            # outlast any proxy's timeout). Provisioning is refused until then; the breaker is untouched.
            self._free(slot, standing)
            state.pending -= 1
            state.image.missing = str(error)
            self._metrics.provision_attempts.labels(result="image_missing").inc()
            log.error("%s", error)
            raise ProvisioningBlocked(
                BlockCode.image_missing,
                f"{error}; it is pulled on the supervisor's schedule (or pull it by hand)",
                max(1, round(state.config.stack.timings.image_check_interval_s)),
                can_retry=True,
                should_wait=False,
            ) from None
        except PortUnavailable as error:
            # Another program holds this host port: the port's fault, not Docker's nor the image's. Skip
            # it for a while and try the next free slot within this same request; the breaker is untouched.
            state.pool.release(slot)
            state.pending -= 1
            if forwarded:
                self._forwarding.discard(slot.vpn)
            state.pool.quarantine(slot, state.clock.monotonic() + PORT_QUARANTINE_S)
            self._metrics.provision_attempts.labels(result="port_quarantined").inc()
            log.warning(
                "port %s is held by another program; skipped for %gs", slot.host_http, PORT_QUARANTINE_S
            )
            self.record(
                EventType.port_quarantined,
                f"host port {slot.host_http} is held by another program; skipped for {PORT_QUARANTINE_S:g}s",
            )
            if request.host_port is not None:
                raise PortTaken(
                    f"host_port: {slot.host_http} is held by another program on the host"
                ) from None
            if attempt >= PORT_ATTEMPTS:
                raise ProvisionFailed(
                    f"{attempt} engine ports in a row were held by other programs: {error}"
                ) from None
            state.breaker.abandon_trial()  # a held port says nothing of the image: the retry is the trial
            # No await since the release: nothing can take the freed counts.
            plain = request == ProvisionRequest()
            retry, retry_standby = self._reserve(None, plain=plain)
            state.breaker.begin()
            retry_spec, retry_forwarded, retry_start, retry_discard = self._prepare(
                retry, retry_standby, request, plain
            )
            if retry_forwarded:
                self._forwarding.add(retry.vpn)
            return await self._create(
                retry,
                retry_spec,
                retry_forwarded,
                request,
                attempt + 1,
                standby=retry_start,
                discard=retry_discard,
            )
        except BaseException as error:  # a runtime failure, or cancellation: nothing of ours runs there
            self._free(slot, standing)
            state.pending -= 1
            if not isinstance(error, RuntimeFailure):
                raise
            self.count_failure(str(error))
            self._metrics.provision_attempts.labels(result="failed").inc()
            log.error("provisioning failed on port %s: %s", slot.host_http, error)
            raise ProvisionFailed(str(error)) from None
        finally:
            self._creating.discard(spec.name)
            if forwarded:
                self._forwarding.discard(slot.vpn)
        now = state.clock.now()
        engine = Engine(
            container_id=info.id,
            container_name=info.name,
            slot=slot,
            vpn_container=spec.labels.get(label.VPN_CONTAINER),
            vpn_container_id=spec.network_mode.removeprefix("container:") if spec.network_mode else None,
            forwarded=forwarded,
            labels=dict(spec.labels),
            first_seen=now,
            last_seen=now,
            started_monotonic=state.clock.monotonic(),
            idle_since=state.clock.monotonic(),
            image_id=info.image_id or (standby.image_id if standby else None) or state.image.current_id,
        )
        state.pending -= 1
        state.docker_answered()
        state.engines[engine.container_id] = engine
        self._store.save_engine(engine)
        made = (
            ("thawed from its paused standby" if standby.paused else "started from its standby")
            if standby
            else "started"
        )
        self.record(
            EventType.engine_created, f"{made} on port {slot.host_http} ({slot.vpn or 'host'})", engine
        )
        self._metrics.provision_attempts.labels(result="started").inc()
        log.info(
            "engine %s started on port %s (%s)", engine.container_name, slot.host_http, slot.vpn or "host"
        )
        return engine

    def _spec(
        self, slot: Slot, request: ProvisionRequest, *, standby: bool = False
    ) -> tuple[ContainerSpec, bool]:
        state = self._state
        stack = state.config.stack
        vpn = state.vpns[slot.vpn]
        forwarded = not standby and self._wants_forwarded(slot.vpn)
        p2p = vpn.forwarded_port if forwarded and vpn.forwarded_port else slot.p2p
        labels = {
            **request.labels,
            **label.engine_selector(stack.stack),
            label.HTTP_PORT: str(slot.http),
            label.HTTPS_PORT: str(slot.https),
            label.P2P_PORT: str(p2p),
            label.HOST_HTTP_PORT: str(slot.host_http),
            label.FORWARDED: "true" if forwarded else "false",
            label.CREATED_AT: state.clock.now().isoformat(),
            label.SPEC_HASH: settings_hash(stack, slot, state.network),
        }
        if state.project:
            labels[label.COMPOSE_PROJECT] = state.project
        if standby:
            labels[label.STANDBY] = "true"
        cache = stack.engine.cache
        environment = {
            **request.env,
            **engine_environment(stack.engine.port_style, slot.http, slot.https, p2p, cache_flags(cache)),
        }
        tmpfs = cache_mounts(cache)
        name = engine_name(stack.stack, slot.host_http)
        if slot.vpn is not None:
            if vpn.container_id is None:
                raise ProvisionFailed(f"the container of VPN {slot.vpn} is not known; is it running?")
            labels[label.VPN] = slot.vpn
            labels[label.VPN_CONTAINER] = vpn.container_name or vpn.container_id
            labels[label.VPN_CONTAINER_ID] = vpn.container_id
            if vpn.started_at:
                labels[label.VPN_STARTED_AT] = vpn.started_at
            spec = ContainerSpec(
                name, stack.engine.image, environment, labels, f"container:{vpn.container_id}", tmpfs=tmpfs
            )
        else:
            published = (PublishedPort(slot.http, slot.host_http, stack.host_ip),)
            spec = ContainerSpec(
                name,
                stack.engine.image,
                environment,
                labels,
                network=state.network,
                published=published,
                tmpfs=tmpfs,
            )
        return spec, forwarded

    async def create_standby(self) -> None:
        """Create one standby container (not started) on the VPN the next engine would go to, when a slot
        is free there; refusals (ProvisioningBlocked) propagate, Docker failures are logged: the next pass
        tries again."""
        state = self._state
        vpn = choose_vpn(state.provision_inputs())
        slot = state.pool.reserve(vpn, state.clock.monotonic())
        if slot is None:
            return  # its free slots are standbys' already
        try:
            spec, _ = self._spec(slot, ProvisionRequest(), standby=True)
        except ProvisionFailed as error:
            state.pool.release(slot)
            log.warning("no standby: %s", error)
            return
        paused = state.config.stack.replicas.standby_mode == "paused"
        state.standbys_making = (*state.standbys_making, slot)
        done = self._made[slot] = asyncio.Event()
        self._creating.add(spec.name)
        try:
            async with self._in_flight:
                info = await self._runtime.create(spec)
            if paused:
                info = await self._freeze_once_up(info, slot, spec.name)
            if self._gave_way(slot):  # a provision claimed its slot meanwhile
                await self._runtime.stop_and_remove(info.id)
                raise RuntimeFailure(f"standby {spec.name} gave way: its port was needed")
        except BaseException as error:
            if not self._gave_way(slot):  # else the slot is the provision's now
                state.pool.release(slot)
            if isinstance(error, DaemonUnreachable):
                state.docker_failed(str(error))
            elif isinstance(error, ImageMissing):
                state.image.missing = str(error)
            if not isinstance(error, RuntimeFailure):
                raise
            log.warning("could not create a standby on port %s: %s", slot.host_http, error)
            return
        finally:
            state.standbys_making = tuple(s for s in state.standbys_making if s != slot)
            del self._made[slot]
            done.set()
            self._creating.discard(spec.name)
        state.docker_answered()
        network_mode = spec.network_mode
        standby = Standby(
            info.id, spec.name, slot, dict(spec.labels), network_mode, info.image_id, paused=paused
        )
        state.standbys[info.id] = standby
        made = "started, answered and paused" if paused else "created"
        self.record(
            EventType.standby_created, f"{spec.name} {made} on port {slot.host_http} ({slot.vpn or 'host'})"
        )
        log.info("standby %s created on port %s", spec.name, slot.host_http)

    async def _freeze_once_up(self, created: ContainerInfo, slot: Slot, name: str) -> ContainerInfo:
        """Paused mode: start the standby, wait until its engine answers (within the startup timeout),
        then pause it, so that a provision only thaws an engine that is up. Removed on any failure
        (RuntimeFailure raised: the caller frees the slot)."""
        await self._runtime.start_created(created.id, name)  # removes it on failure
        try:
            host, port = self._state.engine_address(slot, name)
            # Counted in polls, not read off the clock: the wait is real whatever clock the state keeps.
            polls = math.ceil(self._state.config.stack.timings.startup_timeout_s / STANDBY_POLL_S)
            for _ in range(polls):
                if self._gave_way(slot):
                    raise RuntimeFailure(f"standby {name} gave way before it answered: its port was needed")
                if self.engine_answers is not None and await self.engine_answers(host, port):
                    break
                await asyncio.sleep(STANDBY_POLL_S)
            else:
                raise RuntimeFailure(f"standby {name} did not answer within the startup timeout")
            await self._runtime.pause(created.id)
        except BaseException:
            with contextlib.suppress(RuntimeFailure):
                await self._runtime.stop_and_remove(created.id)
            raise
        return replace(created, running=False, never_started=False, paused=True)

    def _gave_way(self, slot: Slot) -> bool:
        """Whether a provision claimed the slot of the standby being made there."""
        return slot not in self._state.standbys_making

    async def remove_standby(self, container_id: str, reason: str) -> None:
        """Remove a standby container and free its slot; put back as it was when Docker fails."""
        state = self._state
        standby = state.standbys.pop(container_id, None)
        if standby is None:
            return  # a provision started it meanwhile
        self._removing.add(container_id)
        try:
            await self._runtime.stop_and_remove(container_id)
        except BaseException:
            state.standbys[container_id] = standby
            raise
        finally:
            self._removing.discard(container_id)
        state.pool.release(standby.slot)
        self.record(EventType.standby_removed, f"{standby.name}: {reason}")
        log.info("standby %s removed: %s", standby.name, reason)

    def forget_standby(self, container_id: str) -> None:
        """Let go of a standby Docker no longer lists as never started: its slot is free again (one that
        somebody started is judged by the orphan rules as any running engine container)."""
        standby = self._state.standbys.pop(container_id, None)
        if standby is not None:
            self._state.pool.release(standby.slot)

    async def remove(self, key: str, reason: str, stream_reason: str = "engine_removed") -> Engine:
        """Stop and remove an engine, then free its port; its streams end (`engine_removed`).

        It leaves the engine list before the Docker call, so no stream starts on it and no second removal
        picks it meanwhile; its port stays held and it still counts against `max` until Docker has removed
        it. When Docker fails (or the call is cancelled) it may still run, so it is put back as it was."""
        state = self._state
        engine = state.find_engine(key)
        if engine is None:
            raise NotFound(f"no engine {key!r} in this stack; GET /engines lists them")
        del state.engines[engine.container_id]
        state.removing += 1
        self._removing.add(engine.container_id)
        try:
            await self._runtime.stop_and_remove(engine.container_id)
        except BaseException:
            state.engines[engine.container_id] = engine
            raise
        finally:
            state.removing -= 1
            self._removing.discard(engine.container_id)
        self._release(engine, reason, stream_reason)
        return engine

    def forget(self, engine: Engine, reason: str) -> None:
        """Drop an engine Docker no longer has: end its streams (`engine_gone`), free its port, mark it
        gone (never resurrected)."""
        if self._state.engines.pop(engine.container_id, None) is not None:
            self._release(engine, reason, "engine_gone")

    def _release(self, engine: Engine, reason: str, stream_reason: str) -> None:
        end_engine_streams(self._state, self._store, engine, stream_reason)
        self._state.pool.release(engine.slot)
        self._store.mark_engine_gone(engine.container_id, reason, self._state.clock.now())
        self.record(EventType.engine_removed, reason, engine)
        log.info("engine %s removed: %s", engine.container_name, reason)

    def count_success(self) -> None:
        """An engine answered: a start counts as a success only once the engine can serve, so an image
        that starts but never answers keeps failing instead of resetting the count at every start."""
        breaker = self._state.breaker
        before = breaker.state
        breaker.record_success()
        if before is not BreakerState.closed:
            self.record(EventType.breaker_closed, "an engine answered again; provisioning resumed")

    def count_failure(self, reason: str) -> None:
        """An engine start that failed (Docker refused it, or it never became ready) counts against the
        breaker; the moment it opens is logged."""
        breaker = self._state.breaker
        before = breaker.state
        breaker.record_failure(reason)
        if breaker.state is BreakerState.open and before is not BreakerState.open:
            self.record(EventType.breaker_opened, f"provisioning paused after failures: {reason}")

    def record(self, kind: EventType, message: str, engine: Engine | None = None) -> None:
        """One decision into the event log (GET /events)."""
        self._store.record_event(kind, message, self._state.clock.now(), engine)


def _standby_spec(standby: Standby, state: StackState) -> ContainerSpec:
    """What a standby was created from, as far as the engine record needs it (name, labels, network)."""
    return ContainerSpec(
        standby.name, state.config.stack.engine.image, {}, dict(standby.labels), standby.network_mode
    )


async def _done(engine: Engine) -> Engine:
    return engine


def _check_request(request: ProvisionRequest, allowed_env: tuple[str, ...] = ()) -> None:
    """Refuse what Docker would refuse: a bad request must not count as a Docker failure in the breaker."""
    for key, value in request.labels.items():
        if key.startswith((label.PREFIX + ".", "com.docker.")):
            raise InvalidInput(
                f"labels.{key}", "this label is set by the supervisor and cannot be overridden"
            )
        if not key.strip() or "\0" in key or "\0" in value:
            raise InvalidInput(f"labels.{key}", "a label key must be non-empty and neither may hold a NUL")
    for key, value in request.env.items():
        if not _ENV_NAME.fullmatch(key) or "\0" in value:
            raise InvalidInput(
                f"env.{key}", "a variable name is letters, digits and _ (not first a digit); no NUL in values"
            )
        if key in PORT_ENVIRONMENT:
            raise InvalidInput(
                f"env.{key}", "the engine's ports are set by the supervisor from the stack settings"
            )
        if key not in allowed_env:
            allowed = ", ".join(allowed_env) or "none"
            raise InvalidInput(
                f"env.{key}",
                f"not a variable this stack lets requests set (allowed: {allowed}); list it in the "
                "profile's engine.allowed_env to allow it",
            )
