"""Operator routes: the VPNs, the supervisor's health, and the circuit breaker's reset (served from
memory; the reset needs the key)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from litestar import Controller, get, post

from supervisor.api.auth import API_KEY, require_api_key
from supervisor.api.deps import SupervisorDependency
from supervisor.api.errors import documented
from supervisor.core.breaker import BreakerState
from supervisor.core.events import EventType
from supervisor.core.health import HealthStatus
from supervisor.core.offer import Withdrawn
from supervisor.errors import NotFound
from supervisor.service import Supervisor
from supervisor.state import StackState, VpnState

VpnHealth = Literal["healthy", "degraded", "unhealthy", "unknown"]


class VpnOut(msgspec.Struct):
    name: str
    status: str  # gluetun's word (running, stopped, ...), or missing / unreachable / unknown
    connected: bool
    health: VpnHealth
    container: str | None
    forwarded_port: int | None
    forwarded_ports: list[int]
    public_ip: str | None
    last_check: datetime | None
    engines: int


class VpnStatusOut(msgspec.Struct):
    mode: str  # standalone, single or redundant
    enabled: bool
    status: str  # the first connected VPN's (else the first VPN's); "disabled" in standalone
    connected: bool  # any VPN connected
    health: VpnHealth  # all connected: healthy, some: degraded, none: unhealthy
    container: str | None
    forwarded_port: int | None
    forwarded_ports: list[int]
    public_ip: str | None
    last_check: datetime | None
    vpns: list[VpnOut]  # one per VPN (two in redundant mode)


class PublicIpOut(msgspec.Struct):
    vpn: str
    public_ip: str
    last_check: datetime | None


class BreakerOut(msgspec.Struct):
    state: BreakerState
    failures: int
    threshold: int
    last_failure: str | None
    recovery_eta_seconds: int


class EngineHealthCounts(msgspec.Struct):
    total: int
    healthy: int
    unhealthy: int
    unknown: int
    withdrawn: int
    draining: int
    minimum_required: int


class HealthStatusOut(msgspec.Struct):
    engines: EngineHealthCounts
    circuit_breaker: BreakerOut
    docker_reachable: bool
    docker_failure: str | None  # what the daemon's last unanswered call said, while it does not answer


class OperatorController(Controller):
    tags = ("operator",)

    @get("/vpn/status")
    async def vpn_status(self, supervisor: SupervisorDependency) -> VpnStatusOut:
        """Each VPN as the last check saw it (no call to gluetun on this route)."""
        return vpn_status_of(supervisor.state)

    @get("/vpn/publicip", responses=documented(404))
    async def public_ip(self, supervisor: SupervisorDependency) -> PublicIpOut:
        """The public address of the first connected VPN, from gluetun's /v1/publicip/ip at the last
        check (cached between checks); 404 in standalone mode or while no VPN reports one."""
        for key, vpn in supervisor.state.vpns.items():
            if key is not None and vpn.connected and vpn.public_ip:
                return PublicIpOut(key, vpn.public_ip, vpn.last_check)
        raise NotFound("no connected VPN reports a public address (standalone, or every VPN is down)")

    @get("/health/status")
    async def health_status(self, supervisor: SupervisorDependency) -> HealthStatusOut:
        """The engines by health and offer, the breaker, and whether the Docker daemon answers."""
        return health_status_of(supervisor)

    @post(
        "/health/circuit-breaker/reset",
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(401, 403),
    )
    async def reset_breaker(self, supervisor: SupervisorDependency) -> BreakerOut:
        """Close the breaker now (after fixing the image, say): provisioning resumes at once."""
        breaker = supervisor.state.breaker
        before = breaker.state
        breaker.reset()
        supervisor.provisioner.record(EventType.breaker_reset, f"reset through the API (it was {before})")
        return BreakerOut(
            breaker.state,
            breaker.failures,
            supervisor.config.stack.timings.circuit_breaker_failure_threshold,
            breaker.last_failure,
            breaker.recovery_eta_seconds(),
        )


def vpn_status_of(state: StackState) -> VpnStatusOut:
    """GET /vpn/status (the dashboard shows the same)."""
    vpns = [_vpn_out(state, key, vpn) for key, vpn in state.vpns.items() if key is not None]
    connected = [vpn for vpn in vpns if vpn.connected]
    shown = connected[0] if connected else (vpns[0] if vpns else None)
    health: VpnHealth = "unknown" if not vpns else "healthy" if len(connected) == len(vpns) else "degraded"
    if vpns and not connected:
        health = "unhealthy"
    return VpnStatusOut(
        mode=state.config.stack.mode.value,
        enabled=bool(vpns),
        status=shown.status if shown else "disabled",
        connected=bool(connected),
        health=health,
        container=shown.container if shown else None,
        forwarded_port=shown.forwarded_port if shown else None,
        forwarded_ports=shown.forwarded_ports if shown else [],
        public_ip=shown.public_ip if shown else None,
        last_check=shown.last_check if shown else None,
        vpns=vpns,
    )


def health_status_of(supervisor: Supervisor) -> HealthStatusOut:
    """GET /health/status (the dashboard shows the same)."""
    state = supervisor.state
    reasons = [state.withdrawal(engine) for engine in state.engines.values()]
    breaker = state.breaker
    timings = state.config.stack.timings
    return HealthStatusOut(
        engines=EngineHealthCounts(
            total=len(state.engines),
            healthy=state.count(HealthStatus.healthy),
            unhealthy=state.count(HealthStatus.unhealthy),
            unknown=state.count(HealthStatus.unknown),
            withdrawn=sum(1 for reason in reasons if reason is not None),
            draining=sum(1 for reason in reasons if reason is Withdrawn.draining),
            minimum_required=supervisor.reconciler.desired(),
        ),
        circuit_breaker=BreakerOut(
            state=breaker.state,
            failures=breaker.failures,
            threshold=timings.circuit_breaker_failure_threshold,
            last_failure=breaker.last_failure,
            recovery_eta_seconds=breaker.recovery_eta_seconds(),
        ),
        docker_reachable=state.docker_unreachable_since is None,
        docker_failure=state.docker_failure,
    )


def _vpn_out(state: StackState, key: str, vpn: VpnState) -> VpnOut:
    return VpnOut(
        name=key,
        status=vpn.status,
        connected=vpn.connected,
        health="healthy" if vpn.connected else "unhealthy",
        container=vpn.container_name,
        forwarded_port=vpn.forwarded_port,
        forwarded_ports=list(vpn.forwarded_ports),
        public_ip=vpn.public_ip if vpn.connected else None,
        last_check=vpn.last_check,
        engines=len(state.engines_on(key)),
    )
