"""Plain facts for the reconciler's plan, shared by the tests that judge its rules on data."""

from __future__ import annotations

from supervisor.core import reconcile as rc

TIMINGS = rc.Timings(
    restart_window_s=2,
    unhealthy_grace_s=60,
    replacement_cooldown_s=60,
    idle_grace_s=30,
    vpn_restart_timeout_s=60,
)


def engine(engine_id: str = "e1", **facts: object) -> rc.EngineFacts:
    return rc.EngineFacts(**{"id": engine_id, "vpn": None, "listed": True, "running": True, **facts})  # type: ignore[arg-type]


def snapshot(*engines: rc.EngineFacts, **fields: object) -> rc.Snapshot:
    base: dict[str, object] = {
        "engines": engines,
        "orphans": (),
        "vpns": (),
        "timings": TIMINGS,
        "minimum": 0,
        "min_free": 0,
        "maximum": 10,
        "stream_limit": 1,
    }
    return rc.Snapshot(**{**base, **fields})  # type: ignore[arg-type]
