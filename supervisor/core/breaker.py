"""A circuit breaker on provisioning: after repeated Docker failures, stop trying for a while.

Closed -> open after `threshold` consecutive failures; open -> half-open once `recovery_timeout` has passed
(one trial provision goes through); a success closes it, a failure opens it again.
"""

from __future__ import annotations

import math
from enum import StrEnum

from supervisor.core.clock import Clock


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker:
    def __init__(self, clock: Clock, threshold: int, recovery_timeout_s: float) -> None:
        self._clock = clock
        self._threshold = threshold
        self._recovery_timeout = recovery_timeout_s
        self._failures = 0
        self._opened_at: float | None = None
        self.last_failure: str | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.closed
        if self._clock.monotonic() - self._opened_at >= self._recovery_timeout:
            return BreakerState.half_open
        return BreakerState.open

    def allows(self) -> bool:
        return self.state is not BreakerState.open

    def recovery_eta_seconds(self) -> int:
        if self._opened_at is None:
            return 0
        remaining = self._recovery_timeout - (self._clock.monotonic() - self._opened_at)
        return max(0, math.ceil(remaining))

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def record_failure(self, reason: str) -> None:
        self.last_failure = reason
        self._failures += 1
        if self.state is BreakerState.half_open or self._failures >= self._threshold:
            self._opened_at = self._clock.monotonic()
