"""Streams checked against their engines: what a stat answer says, when a stream is stale, how many
sessions an engine reports.

An engine answers a session's stat_url with `{"response": {...}, "error": null}` while the session lives
and `{"response": null, "error": "unknown playback session id"}` once it is gone. Only that second answer,
given `STALE_AFTER` times in a row, makes a stream stale: an engine that does not answer, or answers out
of shape, gives no verdict, so a stream is never ended because its engine could not be asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

STALE_AFTER = 2  # "gone" answers in a row before a stream is ended: one glitch does not cut a viewer
STAT_HISTORY = 360  # stat samples kept per active stream, in memory (for GET /streams/{id}/stats)


class Answer(StrEnum):
    alive = "alive"  # the engine reports the session
    gone = "gone"  # the engine says it does not know the session
    unknown = "unknown"  # no verdict: not reachable, timed out, or an answer out of shape


@dataclass(frozen=True)
class LivePosition:
    """The engine's `livepos` (it sends these as strings or numbers; unreadable ones are None)."""

    last: int | None
    live_first: int | None
    live_last: int | None
    pos: int | None
    first_ts: int | None
    last_ts: int | None
    buffer_pieces: int | None


@dataclass(frozen=True)
class StreamStat:
    """One stat answer of a live session (speeds in KB/s, totals in bytes, as the engine reports)."""

    status: str  # prebuf | dl | ...
    peers: int | None
    speed_down: int | None
    speed_up: int | None
    downloaded: int | None
    uploaded: int | None
    livepos: LivePosition | None


@dataclass(frozen=True)
class StatSample:
    at: datetime
    stat: StreamStat


def read_stat(body: object) -> StreamStat | None:
    """A stat_url answer: the session's statistics, or None when the engine says the session is gone.
    Anything else is not a verdict: ValueError."""
    if not isinstance(body, dict):
        raise ValueError(f"the stat answer is {str(body)[:80]!r}, not a JSON object")
    response, error = body.get("response"), body.get("error")
    if isinstance(response, dict):
        return _stat(response)
    if response is None and isinstance(error, str) and "session" in error.lower():
        return None  # "unknown playback session id"
    raise ValueError(f"the stat answer has no session and says {str(error)[:80]!r}")


def read_stat_answer(status: int, body: bytes) -> StreamStat | None:
    """A stat_url's HTTP answer: the session's statistics, or None when the engine says it is gone. A 404
    counts only when its body names the session; any other status, or a body that is not JSON in the
    engine's shape, is not a verdict: ValueError."""
    if status not in (200, 404):
        raise ValueError(f"HTTP {status}")
    return read_stat(json.loads(body))  # bytes that are not JSON (or not UTF-8) raise a ValueError


def stop_confirmed(status: int, body: bytes) -> bool:
    """Whether a command_url's answer to method=stop confirms it: 200 and `{"error": null, ...}` (the
    engine says `{"response": "ok", "error": null}`); an unknown session or anything else does not."""
    if status != 200:
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("error") is None


def _stat(response: dict[str, Any]) -> StreamStat:
    livepos = response.get("livepos")
    position = (
        LivePosition(*(_integer(livepos.get(name)) for name in LivePosition.__dataclass_fields__))
        if isinstance(livepos, dict)
        else None
    )
    return StreamStat(
        status=str(response.get("status", "unknown")),
        peers=_integer(response.get("peers")),
        speed_down=_integer(response.get("speed_down")),
        speed_up=_integer(response.get("speed_up")),
        downloaded=_integer(response.get("downloaded")),
        uploaded=_integer(response.get("uploaded")),
        livepos=position,
    )


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def gone_in_a_row(answer: Answer, previous: int) -> int:
    """The count of consecutive "gone" answers after this one: an answer of life resets it, no verdict
    leaves it as it was (the engine said nothing either way)."""
    if answer is Answer.alive:
        return 0
    if answer is Answer.gone:
        return previous + 1
    return previous


def is_stale(gone_answers: int, threshold: int = STALE_AFTER) -> bool:
    return gone_answers >= threshold


def live_count(answers: list[Answer]) -> int | None:
    """Sessions of one engine its stat URLs report alive; None when none did and some gave no verdict."""
    alive = answers.count(Answer.alive)
    if alive == 0 and Answer.unknown in answers:
        return None
    return alive
