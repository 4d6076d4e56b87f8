"""Autoscale: converge on the desired engine count, and forget engines that vanished from Docker."""

from __future__ import annotations

import asyncio
import logging

from supervisor.core import labels as label
from supervisor.core.capacity import ProvisioningBlocked
from supervisor.core.scaling import EngineLoad, desired_engines, engines_to_remove
from supervisor.errors import SupervisorError
from supervisor.provisioning import Provisioner, ProvisionRequest
from supervisor.runtime.base import DaemonUnreachable, Runtime
from supervisor.state import StackState

log = logging.getLogger("supervisor.autoscale")


class AutoscaleLoop:
    def __init__(self, state: StackState, runtime: Runtime, provisioner: Provisioner) -> None:
        self._state = state
        self._runtime = runtime
        self._provisioner = provisioner

    def desired(self) -> int:
        replicas = self._state.config.stack.replicas
        return desired_engines(
            self._state.full_engines(),
            replicas.min,
            replicas.min_free,
            replicas.max,
            self._state.scale_target,
        )

    async def tick(self) -> None:
        try:
            await self.forget_vanished()
        except DaemonUnreachable:
            log.warning("autoscale waits: the Docker daemon does not answer")
            return  # judge nothing on a listing that did not come
        state = self._state
        desired = self.desired()
        missing = desired - len(state.engines) - state.pending
        if missing > 0:
            creations = []
            for _ in range(missing):
                try:
                    creations.append(self._provisioner.provision(ProvisionRequest()))
                except (ProvisioningBlocked, SupervisorError) as refusal:
                    log.warning("autoscale cannot add an engine: %s", refusal)
                    break
            for result in await asyncio.gather(*creations, return_exceptions=True):
                if isinstance(result, SupervisorError):
                    log.warning("autoscale could not add an engine: %s", result)
                elif isinstance(result, BaseException):
                    raise result
            return
        loads = [
            EngineLoad(engine.container_id, len(engine.streams), engine.idle_since)
            for engine in state.engines.values()
        ]
        grace = state.config.stack.timings.engine_grace_period_s
        for engine_id in engines_to_remove(loads, desired, state.clock.monotonic(), grace):
            engine = state.engines.get(engine_id)
            if engine is None or engine.streams:
                continue  # removed, or given a stream, while an earlier one was being removed
            await self._provisioner.remove(engine_id, f"idle beyond the desired {desired} engines")

    async def forget_vanished(self) -> None:
        """Engines removed behind our back (docker rm, a crash) are forgotten and their ports freed.

        Only engines known before Docker was asked are judged: one provisioned while the list was in
        flight is missing from the answer, yet runs. An engine whose container exists but is not running
        (exited, restarting) keeps its port, since its restart policy may start it again on that port: it
        is marked unhealthy, and the health loop's replacement path removes it if it stays down."""
        known = set(self._state.engines)
        try:
            found = await self._runtime.list(label.engine_selector(self._state.config.stack.stack))
        except DaemonUnreachable as error:
            self._state.docker_failed(str(error))
            raise
        self._state.docker_answered()
        listed = {info.id: info for info in found}
        for container_id in known:
            engine = self._state.engines.get(container_id)
            info = listed.get(container_id)
            if engine is not None and info is not None:
                engine.container_running = info.running
            if engine is None or (info is not None and info.running):
                continue
            if info is None:
                self._provisioner.forget(engine, "no longer in Docker")
            elif engine.unhealthy_since is None:
                log.warning("engine %s is not running; its port stays held until it is replaced", info.name)
                self._state.mark_unhealthy(engine)
