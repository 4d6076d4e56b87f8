"""The read answers proxies poll, encoded once per change of the state they show and served as bytes.

`/orchestrator/status` and `/engines` (plain and `?all=true`) are built and encoded again only when the
state's version (`StackState.version`, core/changes.py: it moves on every change of an engine, a VPN, the
breaker, the port pool or the stack state) moved since the answer was built; every other request gets
the same bytes. Each answer carries an ETag, a digest of what it shows, so a poller that sends it back in
If-None-Match gets a 304 with no body while nothing changed (after a supervisor restart too, when nothing
changed meanwhile).

Time: nothing `/engines` shows changes with time alone, so its ETag is strong (a digest of its bytes). The
status does: the breaker turns half-open, the pause after an unanswered Docker call ends, quarantined
ports come back, the ETAs count down. So a status is built again once it is STATUS_RECHECK_S old, whatever
the version: a cached status is never wrong about `can_provision` for longer than that. Its `timestamp`
is when it was built (at most STATUS_RECHECK_S before it is sent), and its ETag is weak, a digest of
everything but the timestamp: two answers that differ only in it are the same answer.

Compression: each answer is also kept gzip-compressed, made with its identity bytes (once per build, never
per request), and sent to a request whose Accept-Encoding allows gzip (api/content_coding.py), as Go's
client (acexy's) asks by default: `/engines` of 500 engines is 360 kB plain, 30 kB gzip, and its size is
what a full answer costs the server over `/health` (docs/ARCHITECTURE.md). The two are two
representations: each has its own ETag (the gzip one is the identity's with `-gzip`, as Apache marks it),
an If-None-Match is compared with the one the request would get, and every answer, a 304 too, says
`Vary: Accept-Encoding` so no cache hands one to a client that asked for the other.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

import msgspec
from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.serialization import encode_json
from litestar.types import Scope

from supervisor.api.content_coding import gzip_accepted
from supervisor.api.schemas import EngineOut, engine_out
from supervisor.api.status_view import orchestrator_status
from supervisor.service import Supervisor
from supervisor.state import StackState

STATUS_RECHECK_S = 0.5  # a status older than this is built again: what time changes shows this late at most
GZIP_LEVEL = (
    6  # zlib's default: /engines of 500 engines in ~1.5 ms per build to ~30 kB (level 9: 3x the time)
)
GZIP_ETAG_SUFFIX = "-gzip"
_EPOCH = datetime.fromtimestamp(0, UTC)

# What the cached routes add to their OpenAPI documentation.
NOT_MODIFIED = {
    304: ResponseSpec(
        None,
        description="Not modified: the ETag sent in If-None-Match is the current answer's (no body)",
        generate_examples=False,
    )
}
VALIDATOR = [
    ResponseHeader(
        name="ETag",
        value='"<digest>"',  # only its type is documented (a string); never sent as is
        documentation_only=True,
        description="Send it back in If-None-Match: 304 while the answer is unchanged (one per encoding)",
    ),
    ResponseHeader(
        name="Content-Encoding",
        value="gzip",
        documentation_only=True,
        description="gzip when the request's Accept-Encoding allows it (absent otherwise)",
    ),
    ResponseHeader(
        name="Vary",
        value="Accept-Encoding",
        documentation_only=True,
        description="The body's encoding depends on Accept-Encoding",
    ),
]


class Answer:
    """One encoded answer, identity and gzip, and its four responses, made once and handed to every request
    (Litestar only reads a handler's Response when it sends it, so one object serves any number of them)."""

    __slots__ = ("_responses", "body", "built_at", "etag", "gzip_etag", "gzipped", "version")

    def __init__(self, body: bytes, etag: str, version: int, built_at: float) -> None:
        self.body, self.etag = body, etag
        self.gzipped = gzip.compress(body, GZIP_LEVEL, mtime=0)  # mtime 0: the same bytes for the same body
        self.gzip_etag = f'{etag[:-1]}{GZIP_ETAG_SUFFIX}"'  # W/"x" -> W/"x-gzip", "x" -> "x-gzip"
        self.version = version  # StackState.version it was built at
        self.built_at = built_at  # monotonic
        # no-cache: ask again, with the ETag; Vary on every answer of a route whose coding is negotiated
        plain = {"etag": etag, "cache-control": "no-cache", "vary": "Accept-Encoding"}
        packed = {**plain, "etag": self.gzip_etag}
        self._responses: dict[tuple[bool, bool], Response[Any]] = {  # by (gzip, unchanged)
            (False, False): Response(body, media_type=MediaType.JSON, headers=plain),
            (True, False): Response(
                self.gzipped, media_type=MediaType.JSON, headers={**packed, "content-encoding": "gzip"}
            ),
            (False, True): Response(b"", status_code=304, headers=plain),
            (True, True): Response(b"", status_code=304, headers=packed),
        }

    def respond(self, scope: Scope) -> Response[Any]:
        """The representation the request accepts, or a 304 when its If-None-Match names that one."""
        accept_encoding: bytes | None = None
        if_none_match: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept_encoding = value if accept_encoding is None else accept_encoding + b"," + value
            elif name == b"if-none-match":
                if_none_match = value if if_none_match is None else if_none_match + b"," + value
        packed = gzip_accepted(accept_encoding)
        unchanged = if_none_match is not None and _matches(
            if_none_match, self.gzip_etag if packed else self.etag
        )
        return self._responses[packed, unchanged]


class ReadAnswers:
    """The cached read answers of one supervisor."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        self._status: Answer | None = None
        self._engines: dict[bool, Answer] = {}  # by ?all

    def status(self) -> Answer:
        state = self._supervisor.state
        version, now = state.version, state.clock.monotonic()
        answer = self._status
        if answer is None or answer.version != version or now - answer.built_at >= STATUS_RECHECK_S:
            shown = orchestrator_status(self._supervisor)
            unstamped = encode_json(msgspec.structs.replace(shown, timestamp=_EPOCH))
            answer = self._status = Answer(encode_json(shown), f'W/"{_digest(unstamped)}"', version, now)
        return answer

    def engines(self, everything: bool) -> Answer:
        state = self._supervisor.state
        version = state.version
        answer = self._engines.get(everything)
        if answer is None or answer.version != version:
            body = encode_json(listed_engines(state, everything))
            answer = self._engines[everything] = Answer(body, f'"{_digest(body)}"', version, 0.0)
        return answer


def listed_engines(state: StackState, everything: bool) -> list[EngineOut]:
    """Every engine (`?all=true`), or only those a proxy may use now."""
    listed = [engine_out(state, engine) for engine in state.engines.values()]
    return listed if everything else [engine for engine in listed if engine.withdrawn is None]


_ANSWERS: WeakKeyDictionary[Supervisor, ReadAnswers] = WeakKeyDictionary()


def read_answers(request: Request[Any, Any, Any]) -> ReadAnswers:
    """The answers of the request's supervisor. Taken from the app's state rather than injected by name:
    resolving a dependency (and a `scope` parameter) costs about 9 µs a request, more than serving the
    cached answer does."""
    return answers_of(request.app.state.supervisor)


def answers_of(supervisor: Supervisor) -> ReadAnswers:
    """The cached answers of `supervisor`, made on first use."""
    answers = _ANSWERS.get(supervisor)
    if answers is None:
        answers = _ANSWERS[supervisor] = ReadAnswers(supervisor)
    return answers


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def _matches(if_none_match: bytes, etag: str) -> bool:
    """Whether an If-None-Match value names `etag`: `*`, or one of its tags compared weakly (RFC 9110
    13.1.2: W/"x" and "x" are the same tag)."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.decode("latin-1").split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags
