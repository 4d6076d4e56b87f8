"""`POST /engines/acquire`: the engine a proxy should use for a stream, in one round trip.

The choice is core/acquire.choose over the engines as they are now; claims keep a place for the stream
that follows. A key with no usable engine gets one new engine, however many acquires of it arrive at
once (they await the same creation); an engine that is not ready within the caller's timeout is kept,
claimed for that key, for its next acquire.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from supervisor.core.acquire import ACQUIRE_CLAIM_S, Candidate, Claim, choose, live_claims, ready_eta
from supervisor.core.capacity import BlockCode, ProvisioningBlocked
from supervisor.core.records import Engine
from supervisor.errors import ProvisionFailed
from supervisor.loops.readiness import Readiness
from supervisor.provisioning import Provisioner, ProvisionRequest
from supervisor.state import StackState
from supervisor.store import Store

log = logging.getLogger("supervisor.acquire")

DEFAULT_TIMEOUT_S = 2.5  # below acexy's 3 s client timeout
START_TO_READY_DEFAULT_S = 3.0  # until a start has been measured


@dataclass(frozen=True)
class Acquired:
    engine: Engine
    reused: bool


class Acquirer:
    def __init__(
        self, state: StackState, provisioner: Provisioner, readiness: Readiness, store: Store
    ) -> None:
        self._state = state
        self._store = store
        self._provisioner = provisioner
        self._readiness = readiness
        self._claims: dict[str, list[Claim]] = {}  # engine id -> claims for streams on their way
        self._creating: dict[str, asyncio.Future[Engine]] = {}  # key -> the one creation for it
        self._started_at: dict[str, float] = {}  # engine id -> when acquire started creating it
        self.start_to_ready_s = START_TO_READY_DEFAULT_S  # a running average, for realistic ETAs

    def claims(self, engine_id: str) -> list[Claim]:
        return live_claims(self._claims.get(engine_id, []), self._state.clock.monotonic())

    def stream_started(self, engine_id: str, key: str) -> None:
        """The stream an acquire made room for has started: its claim is used up."""
        claims = self._claims.get(engine_id, [])
        for index, claim in enumerate(claims):
            if claim.key == key:
                del claims[index]
                return

    async def acquire(self, key: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Acquired:
        now = self._state.clock.monotonic()
        self._prune(now)
        chosen = choose(key, self._candidates(now), self._state.stream_limit)
        if chosen is not None:
            engine = self._state.engines[chosen]
            self._claim(engine, key, now)
            return Acquired(engine, reused=True)
        creation = self._creating.get(key)
        if creation is None:
            creation = asyncio.ensure_future(self._create_ready(key))
            self._creating[key] = creation
            creation.add_done_callback(lambda _: self._creating.pop(key, None))
        try:
            engine = await asyncio.wait_for(asyncio.shield(creation), timeout_s)
        except TimeoutError:
            raise self._not_ready_in_time(key, timeout_s) from None
        self._claim(engine, key, self._state.clock.monotonic())
        return Acquired(engine, reused=False)

    async def _create_ready(self, key: str) -> Engine:
        """One new engine for `key`, claimed for it as soon as it exists, returned once it answers."""
        started = self._state.clock.monotonic()
        engine = await self._provisioner.provision(ProvisionRequest())
        self._claim(engine, key, self._state.clock.monotonic(), placeholder=True)
        self._started_at[engine.container_id] = started
        try:
            if not await self._readiness.wait(engine):
                timeout = self._state.config.stack.timings.startup_timeout_s
                raise ProvisionFailed(f"engine {engine.container_name} did not answer within {timeout:g}s")
        finally:
            self._started_at.pop(engine.container_id, None)
        took = self._state.clock.monotonic() - started
        self.start_to_ready_s = 0.7 * self.start_to_ready_s + 0.3 * took
        return engine

    def _not_ready_in_time(self, key: str, timeout_s: float) -> ProvisioningBlocked:
        now = self._state.clock.monotonic()
        started = [
            at
            for engine_id, at in self._started_at.items()
            if any(c.key == key for c in self.claims(engine_id))
        ]
        elapsed = now - min(started) if started else timeout_s
        return ProvisioningBlocked(
            BlockCode.engine_starting,
            f"an engine for this stream is starting and was not ready within {timeout_s:g}s; it is kept "
            "for this key: acquire again after recovery_eta_seconds",
            ready_eta(self.start_to_ready_s, elapsed),
            can_retry=True,
            should_wait=True,
        )

    def _claim(self, engine: Engine, key: str, now: float, placeholder: bool = False) -> None:
        until = now + ACQUIRE_CLAIM_S
        claims = self._claims.setdefault(engine.container_id, [])
        held = next((c for c in claims if c.placeholder and c.key == key), None)
        if held is not None:
            claims.remove(held)  # the first client of a new engine takes its placeholder over
        claims.append(Claim(key, until, placeholder))
        engine.claimed_until = max(engine.claimed_until, until)  # no provision hands it out meanwhile

    def _prune(self, now: float) -> None:
        for engine_id in list(self._claims):
            kept = live_claims(self._claims[engine_id], now)
            if kept and engine_id in self._state.engines:
                self._claims[engine_id] = kept
            else:
                del self._claims[engine_id]

    def _candidates(self, now: float) -> list[Candidate]:
        candidates = []
        started = self._store.active_keys()
        for engine in self._state.engines.values():
            claims = self._claims.get(engine.container_id, [])
            keys = frozenset(started.get(engine.container_id, set()) | {claim.key for claim in claims})
            candidates.append(
                Candidate(
                    engine_id=engine.container_id,
                    offered=self._state.withdrawal(engine) is None,
                    ready=engine.ready,
                    streams=len(engine.streams),
                    keys=keys,
                    claims=len(claims),
                    reserved_for=frozenset(claim.key for claim in claims if claim.placeholder),
                    forwarded=engine.forwarded,
                    last_used=engine.idle_since,
                    streaming=frozenset(started.get(engine.container_id, set())),
                )
            )
        return candidates
