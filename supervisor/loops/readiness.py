"""Readiness after provisioning: an engine shows `unknown` until its HTTP API answers; one that never
answers within the startup timeout is removed, its port freed, and the event logged."""

from __future__ import annotations

import asyncio
import logging

from supervisor.core.health import HealthStatus, startup_expired
from supervisor.core.records import Engine
from supervisor.metrics import Metrics
from supervisor.probes import Probes
from supervisor.provisioning import Provisioner
from supervisor.state import StackState

log = logging.getLogger("supervisor.readiness")


def probe_address(state: StackState, engine: Engine) -> tuple[str, int]:
    """Where the supervisor reaches an engine's HTTP API."""
    return state.engine_address(engine.slot, engine.container_name)


class Readiness:
    def __init__(self, state: StackState, probes: Probes, provisioner: Provisioner, metrics: Metrics) -> None:
        self._state = state
        self._probes = probes
        self._provisioner = provisioner
        self._metrics = metrics

    async def check(self, engine: Engine) -> bool | None:
        """True once ready, False when rolled back, None while still waiting."""
        if engine.ready:
            return True
        host, port = probe_address(self._state, engine)
        answered = await self._probes.engine_answers(host, port)
        if engine.container_id not in self._state.engines:
            return False  # removed while we probed
        now = self._state.clock
        if answered:
            engine.ready = True
            engine.health_status = HealthStatus.healthy
            engine.last_health_check = engine.last_seen = now.now()
            self._provisioner.count_success()
            return True
        timeout = self._state.config.stack.timings.startup_timeout_s
        if startup_expired(engine.started_monotonic, now.monotonic(), timeout):
            log.error(
                "engine %s did not answer on %s:%s within %ss; removing it and freeing port %s",
                engine.container_name,
                host,
                port,
                timeout,
                engine.host_http_port,
            )
            self._metrics.provision_attempts.labels(result="rolled_back").inc()
            reason = f"not ready within {timeout:g}s startup timeout"
            await self._provisioner.remove(engine.container_id, reason)
            # An image that never answers churns for ever otherwise: each start counts as a failure.
            self._provisioner.count_failure(f"engine {engine.container_name} {reason}")
            return False
        return None

    async def tick(self) -> None:
        waiting = [engine for engine in self._state.engines.values() if not engine.ready]
        await asyncio.gather(*(self.check(engine) for engine in waiting))

    async def wait(self, engine: Engine) -> bool:
        """For `?wait=ready`: probe until ready or rolled back."""
        while True:
            verdict = await self.check(engine)
            if verdict is not None:
                return verdict
            await self._state.clock.sleep(self._state.config.env.readiness_interval_s)
