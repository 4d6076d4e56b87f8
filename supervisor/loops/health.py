"""Health checks of ready engines, started a few at a time across the pass; each verdict applied when
its probe returns (no lock held).

The verdicts only observe: the reconciler replaces an engine unhealthy past its grace period with no
streams, at most one per cooldown.
"""

from __future__ import annotations

import asyncio
import logging

from supervisor.core.health import HealthStatus, after_probe
from supervisor.core.records import Engine
from supervisor.loops.readiness import probe_address
from supervisor.probes import Probes
from supervisor.provisioning import Provisioner
from supervisor.state import StackState

log = logging.getLogger("supervisor.health")
# A pass starts its probes PROBES_PER_SLICE at a time, SLICE_S apart (500 engines: over half a second),
# so the event loop never runs hundreds in one go: a request arriving during a pass waits behind a few
# probes' callbacks (a fraction of a millisecond), not behind the whole pass. After a stall, no burst
# to catch up: every slice waits its turn.
PROBES_PER_SLICE = 10
SLICE_S = 0.01


class HealthLoop:
    def __init__(self, state: StackState, probes: Probes, provisioner: Provisioner) -> None:
        self._state = state
        self._probes = probes
        self._provisioner = provisioner

    async def tick(self) -> None:
        """One pass: every ready engine probed once, in slices of PROBES_PER_SLICE."""
        engines = [engine for engine in self._state.engines.values() if engine.ready]
        async with asyncio.TaskGroup() as probes:
            for index, engine in enumerate(engines):
                if index and index % PROBES_PER_SLICE == 0:  # pacing, not timing: the loop's own time
                    await asyncio.sleep(SLICE_S)
                if engine.container_id in self._state.engines:  # not removed meanwhile
                    probes.create_task(self._probe(engine))

    async def _probe(self, engine: Engine) -> None:
        host, port = probe_address(self._state, engine)
        self._apply(engine, await self._probes.engine_answers(host, port))

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
