"""The cache pass: every engine's disk use, measured in one Docker listing with sizes, on its own interval.

Docker computes each size by walking the container's writable layer, which takes long on a cache of many
files (docs/ARCHITECTURE.md, "Engine cache"), so it never runs on a request: `/engines` and `/metrics`
show the last pass's figures. An engine found over the cap is not touched here: the reconciler is kicked
and replaces it once it is idle (core/reconcile.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from supervisor.core import labels as label
from supervisor.core.cache import over_cap, pruned
from supervisor.metrics import Metrics
from supervisor.runtime.base import DaemonUnreachable, Runtime, RuntimeFailure
from supervisor.state import StackState

log = logging.getLogger("supervisor.cache")


class CacheLoop:
    def __init__(
        self,
        state: StackState,
        runtime: Runtime,
        metrics: Metrics,
        over: Callable[[], None] = lambda: None,
    ) -> None:
        self._state = state
        self._runtime = runtime
        self._metrics = metrics
        self._over = over

    async def tick(self) -> None:
        state = self._state
        stack = state.config.stack
        started = state.clock.monotonic()
        try:
            usage = await self._runtime.disk_usage(label.engine_selector(stack.stack))
        except DaemonUnreachable as error:
            state.docker_failed(str(error))
            return
        except RuntimeFailure as error:
            log.warning("could not measure the engines' disk use: %s; the next pass retries", error)
            return
        state.docker_answered()
        self._metrics.cache_check_duration.set(state.clock.monotonic() - started)
        now = state.clock.now()
        limit = stack.engine.cache.limit
        found_over = False
        for engine in state.engines.values():
            size = usage.get(engine.container_id)
            if size is None:
                continue  # created or removed while Docker answered: the next pass measures it
            if pruned(engine.cache_size_bytes, size):
                engine.last_cache_cleanup = now
                self._metrics.cache_cleanups.labels(by="engine").inc()
            if size != engine.cache_size_bytes:
                engine.cache_size_bytes = size
            if over_cap(size, limit):
                found_over = True
        if found_over:
            self._over()
