"""Whether a new engine may be provisioned now, and on which VPN; refusals in the shape proxies parse."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from supervisor.core.ports import VpnKey


class BlockCode(StrEnum):
    max_capacity = "max_capacity"
    vpn_disconnected = "vpn_disconnected"
    circuit_breaker = "circuit_breaker"
    docker_unreachable = "docker_unreachable"
    image_missing = "image_missing"  # the engine image is not on the daemon (pulled on a schedule)
    engine_starting = "engine_starting"  # acquire: the engine for this key is not ready within timeout_s


class ProvisioningBlocked(Exception):
    """A refusal with what the client should do next (acexy reads every field).

    A plain exception, not a frozen dataclass: raising machinery sets attributes on it (`add_note`).
    """

    def __init__(
        self,
        code: BlockCode,
        message: str,
        recovery_eta_seconds: int,
        *,
        can_retry: bool,
        should_wait: bool,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.recovery_eta_seconds = recovery_eta_seconds
        self.can_retry = can_retry
        self.should_wait = should_wait

    def detail(self) -> dict[str, Any]:
        return {
            "error": "provisioning_blocked",
            "code": self.code.value,
            "message": self.message,
            "recovery_eta_seconds": self.recovery_eta_seconds,
            "can_retry": self.can_retry,
            "should_wait": self.should_wait,
        }


@dataclass(frozen=True)
class VpnView:
    """What the choice needs to know about one VPN (or the host, in standalone mode)."""

    key: VpnKey
    connected: bool
    engines: int
    free_slots: int
    stable: bool = True  # connected for at least the stabilisation period


@dataclass(frozen=True)
class ProvisionInputs:
    engines: int  # every engine counted against max, including those still being created
    max_replicas: int
    vpns: tuple[VpnView, ...]
    breaker_open: bool
    breaker_eta_seconds: int
    vpn_retry_seconds: int
    # When an engine is expected to free up (see freeing_eta); None: nothing will, so clients fail fast.
    capacity_retry_seconds: int | None
    # The Docker daemon did not answer lately (see docker_paused): nothing can be created meanwhile.
    docker_unreachable: bool = False
    image_missing: str | None = None  # why: the engine image is not on the daemon
    image_retry_seconds: int = 60  # until the next pull


def choose_vpn(inputs: ProvisionInputs) -> VpnKey:
    """The VPN for the next engine: a connected one with a free slot and the fewest engines.

    Raises ProvisioningBlocked with the reason a proxy should act on, checked in this order: breaker,
    no connected VPN, the replica limit, no free port.
    """
    if inputs.docker_unreachable:
        raise ProvisioningBlocked(
            BlockCode.docker_unreachable,
            "the Docker daemon does not answer; provisioning resumes as soon as it does",
            DOCKER_RECHECK_S,
            can_retry=True,
            should_wait=True,
        )
    if inputs.image_missing is not None:
        raise ProvisioningBlocked(
            BlockCode.image_missing,
            f"{inputs.image_missing}; it is pulled again within recovery_eta_seconds (or pull it by hand)",
            inputs.image_retry_seconds,
            can_retry=True,
            should_wait=False,  # a proxy should not hold its client for a pull that may never work
        )
    if inputs.breaker_open:
        raise ProvisioningBlocked(
            BlockCode.circuit_breaker,
            "provisioning paused after repeated failures to start engines; retry after recovery_eta_seconds",
            inputs.breaker_eta_seconds,
            can_retry=True,
            should_wait=True,
        )
    connected = [vpn for vpn in inputs.vpns if vpn.connected]
    if not connected:
        raise ProvisioningBlocked(
            BlockCode.vpn_disconnected,
            "no VPN is connected; engines are provisioned once a VPN reports running",
            inputs.vpn_retry_seconds,
            can_retry=True,
            should_wait=True,
        )
    if inputs.engines >= inputs.max_replicas:
        raise _full(inputs, f"the stack already runs its maximum of {inputs.max_replicas} engines")
    candidates = [vpn for vpn in connected if vpn.free_slots > 0]
    if not candidates:
        raise _full(inputs, "every engine port of the connected VPNs is in use")
    # A VPN just back up takes new engines once it has stayed up (then first, having the fewest): capacity
    # is rebalanced by provisioning there, never by cutting streams elsewhere.
    stable = [vpn for vpn in candidates if vpn.stable] or candidates
    return min(stable, key=lambda vpn: vpn.engines).key


def _full(inputs: ProvisionInputs, message: str) -> ProvisioningBlocked:
    eta = inputs.capacity_retry_seconds
    if eta is None:  # acexy reads only should_wait: true would hold each client 45 s for nothing
        return ProvisioningBlocked(
            BlockCode.max_capacity,
            f"{message}, and every engine carries streams; no engine is expected to free up",
            0,
            can_retry=False,
            should_wait=False,
        )
    return ProvisioningBlocked(
        BlockCode.max_capacity,
        f"{message}; reuse a free engine or wait for one to be freed",
        eta,
        can_retry=False,
        should_wait=True,
    )


# After the daemon failed to answer, provisions are refused this long, then one is let through to ask again.
DOCKER_RECHECK_S = 1


def docker_paused(unreachable_since: float | None, last_failure_at: float | None, now: float) -> bool:
    """Refuse provisions for DOCKER_RECHECK_S after each unanswered call, then let one ask the daemon."""
    return (
        unreachable_since is not None
        and last_failure_at is not None
        and now - last_failure_at < DOCKER_RECHECK_S
    )


def freeing_eta(
    idle_for_s: list[float], removing: int, grace_period_s: float, interval_s: float
) -> int | None:
    """Seconds until an engine slot is expected to free up, or None when none is.

    A removal in flight frees its slot within moments; an idle engine is removed by the next autoscale
    pass after its grace period (or is free for reuse meanwhile). Engines carrying streams free nothing.
    """
    if removing:
        return 1
    if not idle_for_s:
        return None
    soonest = min(max(0.0, grace_period_s - idle) for idle in idle_for_s)
    return max(1, math.ceil(soonest + interval_s))
