"""How many engines the stack should run: enough free ones for the next viewers, within min and max."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineLoad:
    engine_id: str
    active_streams: int
    idle_since: float  # monotonic time of its last stream (or its start)


def has_room(streams: int, limit: int) -> bool:
    """An engine is free while it carries fewer streams than max_streams_per_engine."""
    return streams < limit


def over_limit(streams: int, limit: int) -> int:
    """Streams an engine carries beyond the limit (recorded all the same: the viewer is watching)."""
    return max(0, streams - limit)


def desired_engines(busy: int, minimum: int, min_free: int, maximum: int, target: int | None) -> int:
    """`min_free` free engines beyond the full (`busy`) ones, at least `min` (or the /scale target), at
    most `max`."""
    floor = minimum if target is None else target
    return max(minimum, min(maximum, max(floor, busy + min_free)))


def engines_to_remove(
    engines: list[EngineLoad], desired: int, now: float, grace_period_s: float
) -> list[str]:
    """Idle engines beyond `desired`, longest idle first, each idle for at least the grace period."""
    surplus = len(engines) - desired
    if surplus <= 0:
        return []
    idle = sorted(
        (load for load in engines if load.active_streams == 0 and now - load.idle_since >= grace_period_s),
        key=lambda load: load.idle_since,
    )
    return [load.engine_id for load in idle[:surplus]]
