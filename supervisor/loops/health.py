"""Health checks of ready engines, all at once; verdicts applied after the probes return (no lock held).

An engine unhealthy past its grace period with no streams is replaced (removed; autoscale starts a new
one), at most one per cooldown.
"""

from __future__ import annotations

import asyncio
import logging

from supervisor.core.health import HealthStatus, after_probe, should_replace
from supervisor.core.records import Engine
from supervisor.loops.readiness import probe_address
from supervisor.probes import Probes
from supervisor.provisioning import Provisioner
from supervisor.state import StackState

log = logging.getLogger("supervisor.health")


class HealthLoop:
    def __init__(self, state: StackState, probes: Probes, provisioner: Provisioner) -> None:
        self._state = state
        self._probes = probes
        self._provisioner = provisioner

    async def tick(self) -> None:
        engines = [engine for engine in self._state.engines.values() if engine.ready]
        answers = await asyncio.gather(*(self._probe(engine) for engine in engines))
        for engine, ok in zip(engines, answers, strict=True):
            self._apply(engine, ok)
        await self._replace_one()

    async def _probe(self, engine: Engine) -> bool:
        host, port = probe_address(self._state, engine)
        return await self._probes.engine_answers(host, port)

    def _apply(self, engine: Engine, ok: bool) -> None:
        clock = self._state.clock
        threshold = self._state.config.stack.timings.health_failure_threshold
        verdict = after_probe(ok, engine.health_status, engine.consecutive_failures, threshold)
        if verdict.status is HealthStatus.unhealthy and engine.unhealthy_since is None:
            engine.unhealthy_since = clock.monotonic()
            log.warning("engine %s is unhealthy after %d failed checks", engine.container_name, threshold)
        if verdict.status is not HealthStatus.unhealthy:
            engine.unhealthy_since = None
        engine.health_status, engine.consecutive_failures = verdict.status, verdict.consecutive_failures
        engine.last_health_check = clock.now()
        if ok:
            engine.last_seen = engine.last_health_check

    async def _replace_one(self) -> None:
        state, timings = self._state, self._state.config.stack.timings
        now = state.clock.monotonic()
        for engine in list(state.engines.values()):
            if should_replace(
                engine.unhealthy_since,
                now,
                timings.health_unhealthy_grace_period_s,
                len(engine.streams),
                state.last_replacement,
                timings.health_replacement_cooldown_s,
            ):
                state.last_replacement = now
                await self._provisioner.remove(
                    engine.container_id, "unhealthy past its grace period; replaced"
                )
                return
