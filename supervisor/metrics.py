"""Prometheus metrics, with their names in one place (documented in docs/API.md).

Gauges are filled from memory when /metrics is scraped, so a scrape never calls Docker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from supervisor import version
from supervisor.core.breaker import BreakerState
from supervisor.core.capacity import BlockCode
from supervisor.core.events import EventType
from supervisor.core.health import HealthStatus
from supervisor.core.offer import EnginePhase

NAMESPACE = "ace_supervisor"


@dataclass(frozen=True)
class StackFacts:
    """The facts the operator gauges show, gathered from memory at each scrape."""

    phases: list[tuple[EnginePhase, str]]  # (phase, vpn or "host") per engine and standby
    vpns: Mapping[str, tuple[bool, int | None]]  # vpn -> (connected, forwarded port); empty: standalone
    breaker: BreakerState
    breaker_failures: int
    docker_reachable: bool
    blocked: BlockCode | None  # why a provision would be refused now


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.engines = Gauge(
            "engines", "Engines by health state and VPN", ["state", "vpn"], namespace=NAMESPACE, registry=r
        )
        self.active_streams = Gauge(
            "active_streams", "Streams started and not ended", namespace=NAMESPACE, registry=r
        )
        self.provision_attempts = Counter(
            "provision_attempts",
            "Provision attempts by result (docs/API.md lists them)",
            ["result"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.provision_duration = Histogram(
            "provision_duration_seconds",
            "Time to answer a provision request (until the container runs)",
            namespace=NAMESPACE,
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30),
        )
        self.streams_over_limit = Gauge(
            "streams_over_limit",
            "Active streams beyond max_streams_per_engine on their engine",
            namespace=NAMESPACE,
            registry=r,
        )
        self.port_pool_used = Gauge(
            "port_pool_used", "Engine port slots held, by VPN", ["vpn"], namespace=NAMESPACE, registry=r
        )
        self.port_pool_size = Gauge(
            "port_pool_size", "Engine port slots, by VPN", ["vpn"], namespace=NAMESPACE, registry=r
        )
        self.standby_engines = Gauge(
            "standby_engines",
            "Standby engine containers held created and never started, by VPN",
            ["vpn"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.cache_bytes = Gauge(
            "engine_cache_bytes",
            "Disk use of each engine's container (its writable layer, where a disk cache lives) at the last "
            "cache pass",
            ["engine", "vpn"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.cache_limit = Gauge(
            "engine_cache_limit_bytes",
            "The profile's engine.cache.limit: an idle engine whose disk use passes it is replaced",
            namespace=NAMESPACE,
            registry=r,
        )
        self.cache_cleanups = Counter(
            "engine_cache_cleanups",
            "Engine caches cleared, by who: engine (its disk use shrank between passes) or replacement "
            "(the supervisor replaced an idle engine over the cap)",
            ["by"],
            namespace=NAMESPACE,
            registry=r,
        )
        for by in ("engine", "replacement"):  # every series from 0, so a rate has a start
            self.cache_cleanups.labels(by=by)
        self.cache_check_duration = Gauge(
            "cache_check_duration_seconds",
            "How long the last cache pass waited for Docker's disk-use listing",
            namespace=NAMESPACE,
            registry=r,
        )
        self.request_duration = Histogram(
            "api_request_duration_seconds",
            "API request durations by method, route and status",
            ["method", "route", "status"],
            namespace=NAMESPACE,
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
        )
        # What an operator's dashboard needs beyond the counts above (docs/grafana/).
        self.engine_phases = Gauge(
            "engines_by_phase",
            "Engines by phase (standby, starting, ready, or why withdrawn) and VPN",
            ["phase", "vpn"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.vpn_connected = Gauge(
            "vpn_connected", "1 while the VPN reports running", ["vpn"], namespace=NAMESPACE, registry=r
        )
        self.vpn_forwarded_port = Gauge(
            "vpn_forwarded_port",
            "The port the VPN forwards (only while it forwards one)",
            ["vpn"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.breaker_state = Gauge(
            "circuit_breaker_state",
            "1 for the provisioning breaker's current state",
            ["state"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.breaker_failures = Gauge(
            "circuit_breaker_failures",
            "Consecutive failed engine starts the breaker counts",
            namespace=NAMESPACE,
            registry=r,
        )
        self.docker_reachable = Gauge(
            "docker_reachable", "1 while the Docker daemon answers", namespace=NAMESPACE, registry=r
        )
        self.provisioning_blocked = Gauge(
            "provisioning_blocked",
            "1 for the reason a provision would be refused now (all 0: provisioning is possible)",
            ["code"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.events = Counter(
            "events", "Events logged (GET /events), by type", ["type"], namespace=NAMESPACE, registry=r
        )
        for kind in EventType:  # every type from the start: a rate() over one never seen is 0, not absent
            self.events.labels(type=kind.value)
        self.build_info = Gauge(
            "build_info",
            "Always 1; the labels say which supervisor runs",
            ["version", "revision"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.build_info.labels(version=version.version(), revision=version.revision() or "").set(1)

    def count_event(self, kind: EventType) -> None:
        self.events.labels(type=kind.value).inc()

    def refresh_stack(self, facts: StackFacts) -> None:
        """Refresh the operator gauges from what the supervisor holds in memory."""
        self.engine_phases.clear()
        vpns = {vpn for _, vpn in facts.phases} | set(facts.vpns)
        for phase in EnginePhase:
            for vpn in vpns:
                self.engine_phases.labels(phase=phase.value, vpn=vpn).set(
                    sum(1 for seen, on in facts.phases if seen is phase and on == vpn)
                )
        self.vpn_connected.clear()
        self.vpn_forwarded_port.clear()
        for vpn, (connected, forwarded) in facts.vpns.items():
            self.vpn_connected.labels(vpn=vpn).set(int(connected))
            if forwarded is not None:
                self.vpn_forwarded_port.labels(vpn=vpn).set(forwarded)
        for state in BreakerState:
            self.breaker_state.labels(state=state.value).set(int(state is facts.breaker))
        self.breaker_failures.set(facts.breaker_failures)
        self.docker_reachable.set(int(facts.docker_reachable))
        for code in BlockCode:
            self.provisioning_blocked.labels(code=code.value).set(int(code is facts.blocked))

    def render(
        self,
        engines: list[tuple[HealthStatus, str]],
        streams: int,
        pool: dict[str, tuple[int, int]],
        over_limit: int = 0,
        standby: dict[str, int] | None = None,
        cache: tuple[list[tuple[str, str, int]], int] | None = None,
    ) -> bytes:
        """Prometheus text after refreshing gauges from (state, vpn) pairs, {vpn: (used, size)},
        {vpn: standbys} and ([(engine name, vpn, disk use) of each measured engine], the cap)."""
        self.engines.clear()
        for status in HealthStatus:
            for vpn in {vpn for _, vpn in engines} | {key for key in pool}:
                self.engines.labels(state=status.value, vpn=vpn).set(
                    sum(1 for state, on in engines if state is status and on == vpn)
                )
        self.active_streams.set(streams)
        self.streams_over_limit.set(over_limit)
        for vpn, (used, size) in pool.items():
            self.port_pool_used.labels(vpn=vpn).set(used)
            self.port_pool_size.labels(vpn=vpn).set(size)
            self.standby_engines.labels(vpn=vpn).set((standby or {}).get(vpn, 0))
        if cache is not None:
            sizes, limit = cache
            self.cache_bytes.clear()  # a removed engine's series goes with it
            for engine, vpn, used in sizes:
                self.cache_bytes.labels(engine=engine, vpn=vpn).set(used)
            self.cache_limit.set(limit)
        return generate_latest(self.registry)
