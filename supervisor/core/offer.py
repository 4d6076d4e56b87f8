"""Whether an engine may be offered to a proxy: never one that cannot serve.

Pure: the facts about one engine and its VPN in, the reason it is withdrawn (or None) out. `/engines`
offers only engines with no reason; `/engines?all=true` shows every engine with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from supervisor.core import labels as label
from supervisor.core.health import HealthStatus


class Withdrawn(StrEnum):
    container_stopped = "container_stopped"  # Docker reports it exited, restarting or paused
    vpn_down = "vpn_down"  # its gluetun does not report running
    namespace_lost = "namespace_lost"  # its gluetun was restarted or replaced: the engine has no network
    unhealthy = "unhealthy"  # it failed its health checks
    draining = "draining"  # it serves its last streams and leaves once idle (changed spec, port, VPN)


class EnginePhase(StrEnum):
    """Where an engine is in its life, as the metrics show it: a withdrawal reason when it has one."""

    standby = "standby"  # created and never started (a Standby, not yet an Engine)
    starting = "starting"  # running, its HTTP API has not answered yet
    ready = "ready"  # offered to proxies
    draining = Withdrawn.draining.value
    unhealthy = Withdrawn.unhealthy.value
    vpn_down = Withdrawn.vpn_down.value
    namespace_lost = Withdrawn.namespace_lost.value
    container_stopped = Withdrawn.container_stopped.value


def phase(withdrawn: Withdrawn | None, *, ready: bool) -> EnginePhase:
    """An engine's phase: why it is withdrawn if it is, else ready once its API has answered."""
    if withdrawn is not None:
        return EnginePhase(withdrawn.value)
    return EnginePhase.ready if ready else EnginePhase.starting


# How long an engine handed to a provision request is kept for that client's first stream before it may
# be handed to another (a client that gave up never starts one).
CLAIM_S = 10.0


def reusable(*, ready: bool, offered: bool, serving: bool, claimed: bool) -> bool:
    """A provision may hand out this engine instead of creating one."""
    return ready and offered and not serving and not claimed


def namespace_lost(
    labels: Mapping[str, str], vpn_container_id: str | None, vpn_started_at: str | None
) -> bool:
    """An engine's network is its gluetun's namespace as it was at creation (labelled): a different
    gluetun container, or a later start of the same one, left it without a network."""
    if vpn_container_id is None:
        return False  # the gluetun is not found right now: the VPN check says vpn_down instead
    if labels.get(label.VPN_CONTAINER_ID) != vpn_container_id:
        return True
    started_at = labels.get(label.VPN_STARTED_AT)
    return started_at is not None and vpn_started_at is not None and started_at != vpn_started_at


def withdrawal(
    *,
    container_running: bool,
    draining: bool = False,
    health: HealthStatus,
    on_vpn: bool,
    vpn_connected: bool,
    lost_namespace: bool,
) -> Withdrawn | None:
    """Why the engine is not offered, most fundamental reason first; None when it may serve."""
    if not container_running:
        return Withdrawn.container_stopped
    if on_vpn and lost_namespace:
        return Withdrawn.namespace_lost
    if on_vpn and not vpn_connected:
        return Withdrawn.vpn_down
    if draining:
        return Withdrawn.draining
    if health is HealthStatus.unhealthy:
        return Withdrawn.unhealthy
    return None
