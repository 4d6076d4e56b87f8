"""Prometheus metrics, with their names in one place (documented in docs/API.md).

Gauges are filled from memory when /metrics is scraped, so a scrape never calls Docker.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from supervisor.core.health import HealthStatus

NAMESPACE = "ace_supervisor"


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
            "Provision attempts by result (started, failed, refused, rolled_back)",
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
