"""A circuit breaker on provisioning: after repeated Docker failures, stop trying for a while.

Closed -> open after `threshold` consecutive failures; open -> half-open once `recovery_timeout` has passed.
Half-open lets one trial provision through: `allows()` only asks (a status query may call it freely), and
the provision that goes ahead claims the trial with `begin()`; every other is refused until the trial
ends. A success closes the breaker, a failure opens it again. A trial that never reports back (the
provision was abandoned after it began) is given up after another `recovery_timeout`, so the breaker
cannot stay shut for good.
"""

from __future__ import annotations

import math
from enum import StrEnum

from supervisor.core.changes import Counted
from supervisor.core.clock import Clock

TRIAL_RETRY_S = 1  # what a refusal tells clients while a trial is under way: its outcome comes soon


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker(Counted):  # every change counts, for the read answers (core/changes.py)
    def __init__(self, clock: Clock, threshold: int, recovery_timeout_s: float) -> None:
        self._clock = clock
        self._threshold = threshold
        self._recovery_timeout = recovery_timeout_s
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_since: float | None = None  # when the half-open trial was let through
        self.last_failure: str | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.closed
        if self._clock.monotonic() - self._opened_at >= self._recovery_timeout:
            return BreakerState.half_open
        return BreakerState.open

    def allows(self) -> bool:
        """Whether a provision may go ahead now. Only asks: nothing changes."""
        state = self.state
        return state is BreakerState.closed or (
            state is BreakerState.half_open and not self._trial_in_flight()
        )

    def begin(self) -> None:
        """A provision that `allows()` let through goes ahead: in half-open it is the one trial."""
        if self.state is BreakerState.half_open:
            self._trial_since = self._clock.monotonic()

    def abandon_trial(self) -> None:
        """The trial start proved nothing about the image (the daemon did not answer, a host port was
        held): the next provision may be the trial instead of waiting out the recovery time again."""
        self._trial_since = None

    def recovery_eta_seconds(self) -> int:
        if self._opened_at is None:
            return 0
        if self._trial_in_flight():
            return TRIAL_RETRY_S
        remaining = self._recovery_timeout - (self._clock.monotonic() - self._opened_at)
        return max(0, math.ceil(remaining))

    @property
    def failures(self) -> int:
        """Failed starts counted since the last success (or reset)."""
        return self._failures

    def reset(self) -> None:
        """An operator's reset: closed, nothing counted (last_failure kept, for the record)."""
        self.record_success()

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_since = None

    def record_failure(self, reason: str) -> None:
        self.last_failure = reason
        self._failures += 1
        if self.state is BreakerState.half_open or self._failures >= self._threshold:
            self._opened_at = self._clock.monotonic()
            self._trial_since = None

    def _trial_in_flight(self) -> bool:
        return (
            self._trial_since is not None
            and self._clock.monotonic() - self._trial_since < self._recovery_timeout
        )
