"""Run a tick forever at an interval; a failing tick is logged and the next one still runs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from supervisor.core.clock import Clock

log = logging.getLogger("supervisor.loops")


async def run_every(name: str, interval_s: float, clock: Clock, tick: Callable[[], Awaitable[None]]) -> None:
    while True:
        await clock.sleep(interval_s)
        try:
            await tick()
        except Exception:
            log.exception("%s tick failed; the next tick retries", name)
