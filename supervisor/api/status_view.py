"""The /orchestrator/status answer: typed (so the OpenAPI schema is complete) and built from memory."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from supervisor.core.breaker import BreakerState
from supervisor.core.capacity import BlockCode, ProvisioningBlocked
from supervisor.core.health import HealthStatus
from supervisor.service import Supervisor


class EngineCounts(msgspec.Struct):
    total: int
    running: int
    healthy: int
    unhealthy: int


class StreamCounts(msgspec.Struct):
    active: int
    total: int


class Capacity(msgspec.Struct):
    total: int  # engines running
    used: int  # engines with no room for another stream (max_streams_per_engine reached)
    available: int  # engines with room
    max_replicas: int
    min_replicas: int


class StandbyCounts(msgspec.Struct):
    wanted: int  # replicas.standby
    ready: int  # created and never started: the next cold provisions only start these


class VpnSummary(msgspec.Struct):
    enabled: bool
    connected: bool
    health: Literal["healthy", "degraded", "unhealthy", "unknown"]
    container: str | None
    forwarded_port: int | None


class BlockedDetail(msgspec.Struct):
    error: Literal["provisioning_blocked"]
    code: BlockCode
    message: str
    recovery_eta_seconds: int
    can_retry: bool
    should_wait: bool


class Provisioning(msgspec.Struct):
    can_provision: bool
    circuit_breaker_state: BreakerState
    last_failure: str | None
    blocked_reason: BlockCode | None
    blocked_reason_details: BlockedDetail | None


class OrchestratorStatus(msgspec.Struct):
    status: Literal["healthy", "degraded", "unavailable"]
    engines: EngineCounts
    streams: StreamCounts
    capacity: Capacity
    standby: StandbyCounts
    vpn: VpnSummary
    provisioning: Provisioning
    timestamp: datetime


def orchestrator_status(supervisor: Supervisor) -> OrchestratorStatus:
    state = supervisor.state
    replicas = state.config.stack.replicas
    refusal = supervisor.blocked()
    vpns = [vpn for key, vpn in state.vpns.items() if key is not None]
    connected = [vpn for vpn in vpns if vpn.connected]
    engines = len(state.engines)
    full = state.full_engines()
    unhealthy = state.count(HealthStatus.unhealthy)
    overall: Literal["healthy", "degraded", "unavailable"] = "healthy"
    if (vpns and not connected) or (not engines and refusal is not None):
        overall = "unavailable"
    elif (
        len(connected) < len(vpns)
        or unhealthy
        or state.breaker.state is not BreakerState.closed
        or state.docker_unreachable_since is not None
    ):
        overall = "degraded"
    shown = connected[0] if connected else (vpns[0] if vpns else None)
    return OrchestratorStatus(
        status=overall,
        engines=EngineCounts(
            engines,
            sum(1 for engine in state.engines.values() if engine.container_running),
            state.count(HealthStatus.healthy),
            unhealthy,
        ),
        streams=StreamCounts(state.active_streams(), state.streams_total),
        capacity=Capacity(engines, full, engines - full, replicas.max, replicas.min),
        standby=StandbyCounts(replicas.standby, len(state.standbys)),
        vpn=VpnSummary(
            enabled=bool(vpns),
            connected=bool(connected),
            health=_vpn_health(len(vpns), len(connected)),
            container=shown.container_name if shown else None,
            forwarded_port=next((vpn.forwarded_port for vpn in connected if vpn.forwarded_port), None),
        ),
        provisioning=Provisioning(
            can_provision=refusal is None,
            circuit_breaker_state=state.breaker.state,
            last_failure=state.breaker.last_failure,
            blocked_reason=refusal.code if refusal else None,
            blocked_reason_details=_blocked_detail(refusal) if refusal else None,
        ),
        timestamp=state.clock.now(),
    )


def _blocked_detail(refusal: ProvisioningBlocked) -> BlockedDetail:
    return BlockedDetail(
        "provisioning_blocked",
        refusal.code,
        refusal.message,
        refusal.recovery_eta_seconds,
        refusal.can_retry,
        refusal.should_wait,
    )


def _vpn_health(vpns: int, connected: int) -> Literal["healthy", "degraded", "unhealthy", "unknown"]:
    if vpns == 0:
        return "unknown"  # standalone: no VPN to judge
    if connected == vpns:
        return "healthy"
    return "degraded" if connected else "unhealthy"
