"""Which engine an `acquire` of a stream key gets: pure, over plain facts.

Clients of one channel share one engine's peers and cache, so the engine already serving (or claimed
for) the key comes first while it has room, one with the key's stream started before one only claimed;
then the free engine with the most spare capacity (forwarded engines first on ties: their peers can reach
them; then the least recently used); else None, and a new engine is created. A claim is a stream on its
way: it takes room until its stream starts or its window ends.
"""

from __future__ import annotations

from dataclasses import dataclass

# How long an engine handed out for a key keeps a place for its stream (the stream_started that follows).
ACQUIRE_CLAIM_S = 10.0


@dataclass(frozen=True)
class Candidate:
    engine_id: str
    offered: bool  # not withdrawn (running, VPN up, healthy, not draining)
    ready: bool  # its HTTP API has answered
    streams: int
    keys: frozenset[str]  # the keys of its streams, and of its live claims
    claims: int  # live claims whose stream has not started yet
    reserved_for: frozenset[str]  # keys a new engine was made for, before any client had it
    forwarded: bool
    last_used: float  # monotonic time of its last stream event (or its start)
    streaming: frozenset[str] = frozenset()  # the keys of its started streams only (no claims)


def spare(candidate: Candidate, limit: int, key: str | None = None) -> int:
    """Room for one more stream of `key`: the place kept for the key's own new engine is its own."""
    kept = 1 if key is not None and key in candidate.reserved_for else 0
    return limit - candidate.streams - candidate.claims + kept


def choose(key: str, candidates: list[Candidate], limit: int) -> str | None:
    """The engine for a stream of `key`, or None when a new one must be created."""
    usable = [c for c in candidates if c.offered and c.ready]
    sharing = [c for c in usable if key in c.keys and spare(c, limit, key) > 0]
    if sharing:
        # An engine whose viewers of the key are watching (its peers and cache warm) before one that only
        # holds a claim for it (a viewer that may never come).
        return max(
            sharing, key=lambda c: (key in c.streaming, spare(c, limit, key), c.forwarded, -c.last_used)
        ).engine_id
    free = [c for c in usable if spare(c, limit) > 0]
    if not free:
        return None
    return max(free, key=lambda c: (spare(c, limit), c.forwarded, -c.last_used)).engine_id


@dataclass(frozen=True)
class Claim:
    key: str
    until: float  # monotonic
    # Made for the key while its engine was being created, before any client had it: the first acquire
    # answered with the engine takes it over instead of adding a second claim.
    placeholder: bool = False


def live_claims(claims: list[Claim], now: float) -> list[Claim]:
    """Claims still holding a place (a claim ends early when its stream starts)."""
    return [claim for claim in claims if claim.until > now]


def ready_eta(start_to_ready_s: float, elapsed_s: float) -> int:
    """Seconds until an engine started `elapsed_s` ago is expected to answer, from the recent average
    start-to-ready time; at least 1."""
    return max(1, round(start_to_ready_s - elapsed_s + 0.5))
