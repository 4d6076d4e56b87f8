"""What the supervisor knows right now, in memory: engines, VPNs, the port pool, the breaker.

Every read route (/orchestrator/status, /engines, /metrics) is served from here, with no Docker call.
Mutations happen in synchronous steps on the event loop, so they need no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from supervisor.core import labels as label
from supervisor.core.breaker import CircuitBreaker
from supervisor.core.capacity import ProvisionInputs, VpnView, docker_paused, freeing_eta
from supervisor.core.changes import Counted, CountedDict, changes
from supervisor.core.clock import Clock
from supervisor.core.health import HealthStatus
from supervisor.core.image import ImageState, outdated
from supervisor.core.offer import Withdrawn, namespace_lost, withdrawal
from supervisor.core.ports import PortPool, Slot, VpnKey
from supervisor.core.records import Engine, Standby, serving
from supervisor.core.scaling import has_room, over_limit
from supervisor.core.spec_hash import settings_hash
from supervisor.settings import Config


@dataclass
class VpnState(Counted):  # every change counts, for the read answers (core/changes.py)
    service: VpnKey
    port_forwarding: bool = False
    container_id: str | None = None
    container_name: str | None = None
    address: str | None = None  # where the supervisor reaches it (IP, else container name)
    started_at: str | None = None  # a new value means gluetun restarted: attached engines lost their network
    status: str = "unknown"
    forwarded_port: int | None = None
    forwarded_ports: tuple[int, ...] = ()  # every port gluetun forwards; the first is forwarded_port
    public_ip: str | None = None  # from the last check while connected (served by GET /vpn/publicip)
    last_check: datetime | None = None
    connected_since: float | None = None  # monotonic: when it was last seen coming up
    down_since: float | None = None  # monotonic: when it was first seen down (None: connected, or unknown)
    restarted_at: float | None = None  # monotonic: when the supervisor last restarted its container

    @property
    def connected(self) -> bool:
        return self.service is None or (self.container_id is not None and self.status == "running")

    def observed(self, now: float) -> None:
        """After each check: when it came up or went down, for failover, restarts and stabilisation."""
        if self.connected:
            self.down_since = None
            if self.connected_since is None:
                self.connected_since = now
        else:
            self.connected_since = None
            if self.down_since is None:
                self.down_since = now


@dataclass
class StackState(Counted):  # every change counts, for the read answers (core/changes.py)
    config: Config
    clock: Clock
    pool: PortPool
    breaker: CircuitBreaker
    vpns: dict[VpnKey, VpnState]
    engines: dict[str, Engine] = field(default_factory=CountedDict)
    standbys: dict[str, Standby] = field(default_factory=CountedDict)  # created, never started
    # Slots of the standbys Docker is creating (or, paused mode, booting) now; reassigned, never mutated,
    # so each change counts. A provision that needs one of these slots claims it (it leaves the list).
    standbys_making: tuple[Slot, ...] = ()
    pending: int = 0  # provisions reserved but not yet running
    removing: int = 0  # engines out of the list whose Docker removal is in flight (they still run)
    scale_target: int | None = None
    last_replacement: float | None = None
    project: str | None = None
    network: str | None = None
    streams_total: int = 0
    docker_unreachable_since: float | None = None  # when the daemon first failed to answer; None: it answers
    docker_failed_at: float | None = None  # the latest call it failed to answer
    docker_failure: str | None = None
    image: ImageState = field(default_factory=ImageState)  # the engine image: current id, or missing

    def docker_answered(self) -> None:
        self.docker_unreachable_since = self.docker_failed_at = self.docker_failure = None

    def docker_failed(self, message: str) -> None:
        now = self.clock.monotonic()
        if self.docker_unreachable_since is None:
            self.docker_unreachable_since = now
        self.docker_failed_at, self.docker_failure = now, message

    @classmethod
    def create(cls, config: Config, clock: Clock) -> StackState:
        timings = config.stack.timings
        breaker = CircuitBreaker(
            clock, timings.circuit_breaker_failure_threshold, timings.circuit_breaker_recovery_timeout_s
        )
        vpns: dict[VpnKey, VpnState] = CountedDict(
            {vpn.service: VpnState(vpn.service, vpn.port_forwarding) for vpn in config.stack.vpns}
            if config.stack.vpns
            else {None: VpnState(None)}
        )
        return cls(config, clock, PortPool(config.stack), breaker, vpns)

    @property
    def version(self) -> int:
        """Moves on every change of what the read answers show (core/changes.py); equal: nothing changed."""
        return changes()

    def engines_on(self, vpn: VpnKey) -> list[Engine]:
        return [engine for engine in self.engines.values() if engine.slot.vpn == vpn]

    def engine_address(self, slot: Slot, container_name: str) -> tuple[str, int]:
        """Where the supervisor reaches the HTTP API of the engine container on this slot."""
        env = self.config.env
        if env.probe_host:
            return env.probe_host, slot.host_http
        if slot.vpn is not None:
            vpn = self.vpns[slot.vpn]
            return vpn.address or slot.vpn, slot.http
        if self.network:
            return container_name, slot.http
        return self.config.stack.host_ip or "127.0.0.1", slot.host_http

    @property
    def standby_creating(self) -> int:
        return len(self.standbys_making)

    def standbys_on(self, vpn: VpnKey) -> int:
        return sum(1 for standby in self.standbys.values() if standby.slot.vpn == vpn)

    def standby_slots_on(self, vpn: VpnKey) -> int:
        """Slots of this VPN a standby holds or is being made on: each one a provision may take."""
        return self.standbys_on(vpn) + sum(1 for slot in self.standbys_making if slot.vpn == vpn)

    def claim_making(self, vpn: VpnKey) -> Slot | None:
        """The slot of a standby being made on this VPN, taken from it: it is removed once Docker answers."""
        for slot in self.standbys_making:
            if slot.vpn == vpn:
                self.standbys_making = tuple(s for s in self.standbys_making if s != slot)
                return slot
        return None

    def take_standby(self, vpn: VpnKey, *, stale_too: bool = False) -> Standby | None:
        """A standby of this VPN, no longer held as one (the caller starts it, or removes it to use its
        slot). A stale one is left for the reconciler to replace unless `stale_too`."""
        for container_id, standby in self.standbys.items():
            if standby.slot.vpn == vpn and (stale_too or not self.standby_stale(standby)):
                return self.standbys.pop(container_id)
        return None

    def standby_stale(self, standby: Standby, image_id: str | None = None) -> bool:
        """Whether starting this standby would make an engine the reconciler replaces at once: its VPN
        namespace is gone, its spec hash is not what the settings make now, its image is older, or it is
        of the other `standby_mode`."""
        vpn = self.vpns.get(standby.slot.vpn)
        namespace_gone = standby.slot.vpn is not None and (
            vpn is None
            or vpn.container_id is None
            or namespace_lost(standby.labels, vpn.container_id, vpn.started_at)
        )
        other_mode = standby.paused != (self.config.stack.replicas.standby_mode == "paused")
        return (
            namespace_gone
            or other_mode
            or self.drifted(standby.labels, standby.slot, image_id or standby.image_id)
        )

    def drifted(self, labels: dict[str, str], slot: Slot, image_id: str | None) -> bool:
        """Whether a container on this slot was made from a spec other than what the settings make now
        (unlabelled ones are not judged), or from an image older than the current one."""
        made_from = labels.get(label.SPEC_HASH)
        would_make = settings_hash(self.config.stack, slot, self.network)
        return (made_from is not None and made_from != would_make) or outdated(
            image_id, self.image.current_id
        )

    def active_streams(self) -> int:
        return sum(len(engine.streams) for engine in self.engines.values())

    @property
    def stream_limit(self) -> int:
        return self.config.stack.replicas.max_streams_per_engine

    def full_engines(self) -> int:
        """Engines with no room for another stream (max_streams_per_engine reached)."""
        return sum(1 for e in self.engines.values() if not has_room(len(e.streams), self.stream_limit))

    def streams_over_limit(self) -> int:
        return sum(over_limit(len(e.streams), self.stream_limit) for e in self.engines.values())

    def count(self, status: HealthStatus) -> int:
        return sum(1 for engine in self.engines.values() if engine.health_status is status)

    def mark_unhealthy(self, engine: Engine) -> None:
        """Judged down without a probe (its container stopped, its network lost). It keeps its port; the
        health loop replaces it after the grace period unless it answers again first."""
        engine.health_status = HealthStatus.unhealthy
        if engine.unhealthy_since is None:
            engine.unhealthy_since = self.clock.monotonic()

    def withdrawal(self, engine: Engine) -> Withdrawn | None:
        """Why this engine must not be offered to a proxy right now (None: it may serve)."""
        vpn = self.vpns.get(engine.slot.vpn)
        on_vpn = engine.slot.vpn is not None and vpn is not None
        return withdrawal(
            container_running=engine.container_running,
            draining=engine.draining is not None,
            health=engine.health_status,
            on_vpn=on_vpn,
            vpn_connected=vpn is not None and vpn.connected,
            lost_namespace=on_vpn
            and vpn is not None
            and namespace_lost(engine.labels, vpn.container_id, vpn.started_at),
        )

    def find_engine(self, key: str) -> Engine | None:
        """By full id, id prefix (as `docker ps` shows) or container name."""
        if key in self.engines:
            return self.engines[key]
        for engine in self.engines.values():
            if engine.container_name == key or (len(key) >= 12 and engine.container_id.startswith(key)):
                return engine
        return None

    def provision_inputs(self) -> ProvisionInputs:
        timings = self.config.stack.timings
        now = self.clock.monotonic()
        # Held slots count engines still being created, so a burst spreads over the VPNs too.
        stabilization = timings.vpn_stabilization_s
        views = tuple(
            VpnView(
                key,
                vpn.connected,
                self.pool.used(key) - self.standby_slots_on(key),
                self.pool.free(key, now) + self.standby_slots_on(key),  # a standby's slot is one to take
                stable=key is None
                or (vpn.connected_since is not None and now - vpn.connected_since >= stabilization),
            )
            for key, vpn in self.vpns.items()
        )
        return ProvisionInputs(
            engines=len(self.engines) + self.pending + self.removing,
            max_replicas=self.config.stack.replicas.max,
            vpns=views,
            breaker_open=not self.breaker.allows(),
            breaker_eta_seconds=self.breaker.recovery_eta_seconds(),
            vpn_retry_seconds=max(1, round(timings.vpn_check_interval_s)),
            docker_unreachable=docker_paused(self.docker_unreachable_since, self.docker_failed_at, now),
            image_missing=self.image.missing,
            image_retry_seconds=max(1, round(timings.image_check_interval_s)),
            capacity_retry_seconds=freeing_eta(
                [now - e.idle_since for e in self.engines.values() if not serving(e)],
                self.removing,
                timings.engine_grace_period_s,
                timings.autoscale_interval_s,
            ),
        )
