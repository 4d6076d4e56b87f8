"""Time as a dependency, so breakers, timeouts and loops are tested without sleeping."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime:
        """Wall-clock time, always timezone-aware UTC (the API promises RFC 3339 with a timezone)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to; `sleep` returns once `advance` has passed its deadline."""

    def __init__(self, start: datetime | None = None) -> None:
        self._monotonic = 1000.0
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._monotonic

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._monotonic - 1000.0)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._monotonic + seconds, future))
        await future

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        due = [entry for entry in self._sleepers if entry[0] <= self._monotonic]
        self._sleepers = [entry for entry in self._sleepers if entry[0] > self._monotonic]
        for _, future in due:
            if not future.done():
                future.set_result(None)
