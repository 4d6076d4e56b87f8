"""Which engine an acquire gets, at its edges (written against the mutants `just mutate` found surviving):
only offered and ready engines, the engine sharing the key with the most room first, then forwarded ones,
then the least recently used; the place kept for a key's own new engine; and the ready estimate."""

from __future__ import annotations

import dataclasses

from supervisor.core.acquire import Candidate, choose, ready_eta, spare

BASE = Candidate(
    engine_id="e",
    offered=True,
    ready=True,
    streams=0,
    keys=frozenset(),
    claims=0,
    reserved_for=frozenset(),
    forwarded=False,
    last_used=0.0,
)


def candidate(engine_id: str, **facts: object) -> Candidate:
    return dataclasses.replace(BASE, engine_id=engine_id, **facts)  # type: ignore[arg-type]


def test_only_an_offered_engine_that_answers_is_handed_out() -> None:
    assert choose("k", [candidate("starting", ready=False)], limit=2) is None
    assert choose("k", [candidate("withdrawn", offered=False)], limit=2) is None
    assert choose("k", [candidate("withdrawn", offered=False, keys=frozenset({"k"}))], limit=2) is None
    assert choose("k", [candidate("ok")], limit=2) == "ok"


def test_among_engines_sharing_the_key_the_roomiest_then_forwarded_then_least_recently_used_wins() -> None:
    shared = frozenset({"k"})
    roomier = [candidate("fuller", keys=shared, streams=2), candidate("roomier", keys=shared, streams=1)]
    assert choose("k", roomier, limit=3) == "roomier"
    forwarded = [candidate("plain", keys=shared), candidate("forwarded", keys=shared, forwarded=True)]
    assert choose("k", forwarded, limit=3) == "forwarded"
    older = [candidate("recent", keys=shared, last_used=10.0), candidate("older", keys=shared, last_used=5.0)]
    assert choose("k", older, limit=3) == "older"
    assert choose("k", [*older, candidate("free-but-not-sharing", streams=0)], limit=3) == "older"


def test_the_place_kept_for_a_keys_own_new_engine_counts_for_that_key_only() -> None:
    made_for_k = candidate("new", claims=1, reserved_for=frozenset({"k"}))
    assert (spare(made_for_k, 1, "k"), spare(made_for_k, 1), spare(made_for_k, 1, "other")) == (1, 0, 0)
    shared = frozenset({"k"})
    mine = candidate("mine", keys=shared, streams=1, reserved_for=frozenset({"k"}))
    busier = candidate("busier", keys=shared, streams=1, forwarded=True)  # would win a tie
    assert choose("k", [busier, mine], limit=2) == "mine"


def test_the_ready_estimate_rounds_the_time_left_up_and_is_never_below_a_second() -> None:
    assert ready_eta(10, 2.7) == 8
    assert ready_eta(2.2, 0) == 3
    assert ready_eta(10, 9.6) == 1
    assert ready_eta(10, 30) == 1  # late already: it is asked again within a second
