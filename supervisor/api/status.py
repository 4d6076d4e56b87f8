"""Liveness, the orchestrator status proxies poll (no key, from memory), metrics and scaling."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.params import FromPath
from prometheus_client import CONTENT_TYPE_LATEST

from supervisor.api.auth import require_api_key
from supervisor.api.deps import SupervisorDependency
from supervisor.api.schemas import Scaled
from supervisor.core.breaker import BreakerState
from supervisor.core.health import HealthStatus
from supervisor.errors import InvalidInput


class StatusController(Controller):
    tags = ("status",)

    @get("/health")
    async def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/orchestrator/status")
    async def status(self, supervisor: SupervisorDependency) -> dict[str, Any]:
        """The stack at a glance; what acexy reads to decide whether to provision."""
        state = supervisor.state
        replicas = state.config.stack.replicas
        refusal = supervisor.blocked()
        vpns = [vpn for key, vpn in state.vpns.items() if key is not None]
        connected = [vpn for vpn in vpns if vpn.connected]
        busy = sum(1 for engine in state.engines.values() if engine.streams)
        unhealthy = state.count(HealthStatus.unhealthy)
        if (vpns and not connected) or (not state.engines and refusal is not None):
            overall = "unavailable"
        elif len(connected) < len(vpns) or unhealthy or state.breaker.state is not BreakerState.closed:
            overall = "degraded"
        else:
            overall = "healthy"
        first = connected[0] if connected else (vpns[0] if vpns else None)
        return {
            "status": overall,
            "engines": {
                "total": len(state.engines),
                "running": len(state.engines),
                "healthy": state.count(HealthStatus.healthy),
                "unhealthy": unhealthy,
            },
            "streams": {"active": state.active_streams(), "total": state.streams_total},
            "capacity": {
                "total": len(state.engines),
                "used": busy,
                "available": len(state.engines) - busy,
                "max_replicas": replicas.max,
                "min_replicas": replicas.min,
            },
            "vpn": {
                "enabled": bool(vpns),
                "connected": bool(connected),
                "health": _vpn_health(len(vpns), len(connected)),
                "container": first.container_name if first else None,
                "forwarded_port": next((vpn.forwarded_port for vpn in connected if vpn.forwarded_port), None),
            },
            "provisioning": {
                "can_provision": refusal is None,
                "circuit_breaker_state": state.breaker.state.value,
                "last_failure": state.breaker.last_failure,
                "blocked_reason": refusal.code.value if refusal else None,
                "blocked_reason_details": refusal.detail() if refusal else None,
            },
            "timestamp": state.clock.now(),
        }

    @get("/metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, supervisor: SupervisorDependency) -> Response[bytes]:
        """Prometheus text; gauges are refreshed from memory (no Docker call)."""
        state = supervisor.state
        engines = [(engine.health_status, engine.slot.vpn or "host") for engine in state.engines.values()]
        pool = {vpn or "host": (state.pool.used(vpn), state.pool.size(vpn)) for vpn in state.pool.vpns}
        body = supervisor.metrics.render(engines, state.active_streams(), pool)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @post("/scale/{n:int}", status_code=200, guards=[require_api_key])
    async def scale(self, supervisor: SupervisorDependency, n: FromPath[int]) -> Scaled:
        """Set the desired engine count (within min and max); autoscale converges on it in the background."""
        replicas = supervisor.config.stack.replicas
        if not replicas.min <= n <= replicas.max:
            raise InvalidInput("n", f"{n} is outside the stack's replicas, {replicas.min}..{replicas.max}")
        supervisor.state.scale_target = n
        supervisor.scale_soon()
        return Scaled(n, len(supervisor.state.engines), replicas.min, replicas.max)


def _vpn_health(vpns: int, connected: int) -> str:
    if vpns == 0:
        return "unknown"  # standalone: no VPN to judge
    if connected == vpns:
        return "healthy"
    return "degraded" if connected else "unhealthy"
