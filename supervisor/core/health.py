"""Health verdicts: an engine's status from its probe history, and when it is given up on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HealthStatus(StrEnum):
    healthy = "healthy"
    unhealthy = "unhealthy"
    unknown = "unknown"


@dataclass(frozen=True)
class HealthVerdict:
    status: HealthStatus
    consecutive_failures: int


def after_probe(ok: bool, previous: HealthStatus, failures: int, threshold: int) -> HealthVerdict:
    """One answer resets an engine to healthy; `threshold` misses in a row make it unhealthy."""
    if ok:
        return HealthVerdict(HealthStatus.healthy, 0)
    failures += 1
    if failures >= threshold:
        return HealthVerdict(HealthStatus.unhealthy, failures)
    return HealthVerdict(previous, failures)


def startup_expired(created_at: float, now: float, startup_timeout_s: float) -> bool:
    """A new engine whose HTTP API has not answered within the startup timeout is rolled back."""
    return now - created_at >= startup_timeout_s


def should_replace(
    unhealthy_since: float | None,
    now: float,
    grace_period_s: float,
    active_streams: int,
    last_replacement: float | None,
    cooldown_s: float,
) -> bool:
    """Replace an engine unhealthy past its grace period, unless it still serves streams or a replacement
    happened within the cooldown (so a flapping VPN cannot churn every engine at once)."""
    if unhealthy_since is None or active_streams > 0:
        return False
    if now - unhealthy_since < grace_period_s:
        return False
    return last_replacement is None or now - last_replacement >= cooldown_s
