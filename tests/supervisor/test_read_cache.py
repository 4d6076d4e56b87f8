"""The read answers (/orchestrator/status, /engines, /engines?all=true) are encoded once per change of the
state they show: every kind of change is a new ETag with a fresh body, no change a 304 to a poller that
sends its ETag back, and what time alone changes in the status shows within STATUS_RECHECK_S."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from typing import Any

import pytest
from acexy_events import started_event
from litestar.serialization import encode_json

from supervisor.api import read_cache
from supervisor.api.read_cache import STATUS_RECHECK_S, listed_engines
from supervisor.api.status_view import orchestrator_status
from supervisor.core.breaker import CircuitBreaker
from supervisor.core.capacity import DOCKER_RECHECK_S
from supervisor.core.changes import Counted, CountedDict, CountedSet, changes
from supervisor.core.clock import ManualClock
from supervisor.core.ports import PortPool
from supervisor.core.records import Engine
from supervisor.runtime.fake import FakeRuntime
from supervisor.state import StackState, VpnState

pytestmark = pytest.mark.anyio

STATUS, ENGINES, ALL = "/orchestrator/status", "/engines", "/engines?all=true"
EVERY = {STATUS, ENGINES, ALL}
RECOVERY_S = 30.0


class Poller:
    """A proxy polling each read route with the ETag of its last answer, as a caching client does."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.supervisor = client.app.state.supervisor
        self.etags: dict[str, str] = {}
        self.bodies: dict[str, Any] = {}

    async def poll(self) -> set[str]:
        """The routes that answered a new body; what the poller then holds is checked against an answer
        built now, whether it came in this body or a 304 confirmed the one it had."""
        changed = set()
        for path in (STATUS, ENGINES, ALL):
            asked = {"If-None-Match": self.etags[path]} if path in self.etags else {}
            answer = await self.client.get(path, headers=asked)
            etag = answer.headers["etag"]
            assert answer.headers["cache-control"] == "no-cache"
            if answer.status_code == 304:  # what the poller holds must be what would be built now
                assert answer.content == b"" and etag == self.etags[path]
                assert _unstamped(self.bodies[path]) == _unstamped(self.fresh(path))
                continue
            assert answer.status_code == 200 and etag != self.etags.get(path)
            body = answer.json()
            assert _unstamped(body) == _unstamped(self.fresh(path))
            self.etags[path], self.bodies[path] = etag, body
            changed.add(path)
        return changed

    def fresh(self, path: str) -> Any:
        if path == STATUS:
            return json.loads(encode_json(orchestrator_status(self.supervisor)))
        return json.loads(encode_json(listed_engines(self.supervisor.state, path == ALL)))


def _unstamped(body: Any) -> Any:
    return {**body, "timestamp": None} if isinstance(body, dict) else body


async def test_every_change_of_what_they_show_is_a_new_answer_and_no_change_a_304(
    open_client: Any, runtime: FakeRuntime, probes: Any, clock: ManualClock, auth: dict[str, str]
) -> None:
    timings = {
        "health_failure_threshold": 1,
        "circuit_breaker_failure_threshold": 1,
        "circuit_breaker_recovery_timeout_s": RECOVERY_S,
    }
    async with open_client("single", max_replicas=4, timings=timings) as client:
        supervisor = client.app.state.supervisor
        poller = Poller(client)
        assert await poller.poll() == EVERY
        assert await poller.poll() == set()  # nothing changed: 304 each

        engine = (await client.post("/provision/acestream", headers=auth)).json()  # a new engine
        assert await poller.poll() == EVERY
        port, engine_id = engine["host_http_port"], engine["container_id"]
        await supervisor.readiness.tick()  # it answers: ready, healthy
        assert await poller.poll() == EVERY
        assert poller.bodies[ENGINES][0]["phase"] == "ready"

        started = await client.post("/events/stream_started", json=started_event(port), headers=auth)
        assert await poller.poll() == EVERY
        assert poller.bodies[STATUS]["streams"]["active"] == 1
        ended = {"stream_id": started.json()["id"], "reason": "completed"}
        await client.post("/events/stream_ended", json=ended, headers=auth)
        assert await poller.poll() == EVERY
        assert poller.bodies[ENGINES][0]["streams"] == []

        probes.silent.add(port)  # a health verdict: unhealthy, withdrawn
        await supervisor.health.tick()
        assert await poller.poll() == EVERY
        assert poller.bodies[ENGINES] == [] and poller.bodies[ALL][0]["withdrawn"] == "unhealthy"
        probes.silent.discard(port)
        await supervisor.health.tick()
        assert await poller.poll() == EVERY
        assert await poller.poll() == set()

        probes.vpn_status = "stopped"  # the VPN goes down: refused, withdrawn
        await supervisor.vpn.tick()
        assert await poller.poll() == EVERY
        assert poller.bodies[STATUS]["provisioning"]["blocked_reason"] == "vpn_disconnected"
        assert poller.bodies[ALL][0]["withdrawn"] == "vpn_down"
        probes.vpn_status = "running"
        await supervisor.vpn.tick()
        assert await poller.poll() == EVERY

        runtime.kill(engine_id)  # its container stopped: withdrawn
        await supervisor.reconciler.tick()
        assert await poller.poll() == EVERY
        assert poller.bodies[ENGINES] == [] and poller.bodies[ALL][0]["withdrawn"] == "container_stopped"
        await client.delete(f"/engines/{engine_id}", headers=auth)  # a removed engine
        assert await poller.poll() == {STATUS, ALL}  # /engines offered none before either
        assert poller.bodies[ALL] == []

        await client.post("/provision/acestream", headers=auth)  # the forwarded engine
        assert await poller.poll() == EVERY
        probes.forwarded_port = 6001  # the forwarded port moved: that engine drains
        await supervisor.vpn.tick()
        assert await poller.poll() >= {ENGINES, ALL}
        assert poller.bodies[ALL][0]["withdrawn"] == "draining"

        runtime.daemon_down = True  # Docker does not answer: refused for DOCKER_RECHECK_S
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 503
        assert await poller.poll() == {STATUS}  # the engines' answers are built again, the same
        assert poller.bodies[STATUS]["provisioning"]["blocked_reason"] == "docker_unreachable"
        runtime.daemon_down = False
        clock.advance(DOCKER_RECHECK_S + STATUS_RECHECK_S)  # the pause ends with time alone
        assert await poller.poll() == {STATUS}
        assert poller.bodies[STATUS]["provisioning"]["blocked_reason"] is None

        runtime.fail_next_creates = 1  # a failed start opens the breaker
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 503
        assert await poller.poll() == {STATUS}
        assert poller.bodies[STATUS]["provisioning"]["circuit_breaker_state"] == "open"
        assert not poller.bodies[STATUS]["provisioning"]["can_provision"]
        clock.advance(RECOVERY_S + STATUS_RECHECK_S)  # time alone: half-open, a trial may start
        assert await poller.poll() == {STATUS}
        provisioning = poller.bodies[STATUS]["provisioning"]
        assert provisioning["circuit_breaker_state"] == "half_open" and provisioning["can_provision"]


async def test_unchanged_status_keeps_its_etag_with_a_newer_timestamp(
    open_client: Any, clock: ManualClock
) -> None:
    async with open_client("standalone") as client:
        first = await client.get(STATUS)
        etag = first.headers["etag"]
        assert etag.startswith('W/"')  # weak: two answers differing only in timestamp are the same
        assert (await client.get(STATUS)).content == first.content  # the same bytes, not built again
        clock.advance(STATUS_RECHECK_S)
        again = await client.get(STATUS)
        assert again.headers["etag"] == etag
        assert datetime.fromisoformat(again.json()["timestamp"]) > datetime.fromisoformat(
            first.json()["timestamp"]
        )
        assert (await client.get(STATUS, headers={"If-None-Match": etag})).status_code == 304


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        (None, 200),
        ("{etag}", 304),
        ("W/{etag}", 304),  # If-None-Match compares weakly
        ('"other", {etag}', 304),
        ("*", 304),
        ('"other"', 200),
    ],
)
async def test_if_none_match_forms(open_client: Any, sent: str | None, status: int) -> None:
    async with open_client("standalone") as client:
        etag = (await client.get(ENGINES)).headers["etag"]
        headers = {} if sent is None else {"If-None-Match": sent.format(etag=etag)}
        answer = await client.get(ENGINES, headers=headers)
        assert answer.status_code == status and answer.headers["etag"] == etag


async def test_a_change_elsewhere_that_shows_nothing_new_keeps_the_etag(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        poller = Poller(client)
        await poller.poll()
        version = client.app.state.supervisor.state.version
        await client.post("/scale/0", headers=auth)  # the desired count is not in these answers
        assert client.app.state.supervisor.state.version != version
        assert await poller.poll() == set()


async def test_the_openapi_schema_documents_the_models_and_the_304(open_client: Any) -> None:
    async with open_client("standalone") as client:
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
    status, engines = paths[STATUS]["get"]["responses"], paths[ENGINES]["get"]["responses"]
    assert status["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrchestratorStatus"
    }
    assert engines["200"]["content"]["application/json"]["schema"] == {
        "items": {"$ref": "#/components/schemas/EngineOut"},
        "type": "array",
    }
    for responses in (status, engines):
        assert "304" in responses and "ETag" in responses["200"]["headers"]


# --- the count itself ----------------------------------------------------------------------------------


def counts(change: Any, expected: int = 1) -> None:
    before = changes()
    change()
    assert changes() == before + expected


def test_counted_containers_count_every_change_in_place() -> None:
    elements: CountedSet[int] = CountedSet()
    for change in (
        lambda: elements.add(1),
        lambda: elements.update({2, 3}),
        lambda: elements.discard(3),
        lambda: elements.remove(2),
        lambda: elements.pop(),
        lambda: elements.clear(),
        lambda: elements.__ior__({4, 5}),
        lambda: elements.__isub__({5}),
        lambda: elements.__iand__({4}),
        lambda: elements.__ixor__({6}),
        lambda: elements.difference_update({6}),
        lambda: elements.intersection_update({4}),
        lambda: elements.symmetric_difference_update({7}),
    ):
        counts(change)
    assert elements == {4, 7}
    elements |= {8}  # the operators themselves, as code writes them
    assert elements == {4, 7, 8}
    mapping: CountedDict[str, int] = CountedDict()
    for change in (
        lambda: mapping.__setitem__("a", 1),
        lambda: mapping.update(b=2, c=3),
        lambda: mapping.setdefault("d", 4),
        lambda: mapping.pop("d"),
        lambda: mapping.__delitem__("c"),
        lambda: mapping.popitem(),
        lambda: mapping.__ior__({"e": 5}),
        lambda: mapping.clear(),
    ):
        counts(change)
    assert mapping == {}
    counts(lambda: (len(elements), 4 in elements, list(mapping.items())), expected=0)  # reads count nothing


def test_counted_records_count_every_assignment() -> None:
    breaker = CircuitBreaker(ManualClock(), threshold=1, recovery_timeout_s=1)
    before = changes()
    breaker.record_failure("boom")
    assert changes() > before

    class Record(Counted):
        value = 0

    record = Record()
    counts(lambda: setattr(record, "value", 1))
    counts(lambda: delattr(record, "value"))


# Containers that never change in place once made: an engine's labels (its container's), the pool's slots
# (from the settings); and the pool's per-VPN maps, whose keys are the settings' VPNs (their values count).
FIXED = {("Engine", "labels"), ("PortPool", "_slots")}
FIXED_KEYS = {("PortPool", "_taken"), ("PortPool", "_quarantined")}


async def test_every_container_the_answers_read_counts_its_changes(
    open_client: Any, auth: dict[str, str]
) -> None:
    """A plain set, dict or list anywhere in the state would change without moving the version."""
    async with open_client("redundant") as client:
        port = (await client.post("/provision/acestream", headers=auth)).json()["host_http_port"]
        await client.post("/events/stream_started", json=started_event(port), headers=auth)
        state = client.app.state.supervisor.state
        checked = _containers(state)
    assert {("StackState", "engines"), ("StackState", "vpns"), ("Engine", "streams")} <= checked


def _containers(record: object) -> set[tuple[str, str]]:
    assert isinstance(record, Counted | PortPool), record
    checked = set()
    owner = type(record).__name__
    for name, value in vars(record).items():
        if not isinstance(value, set | dict | list) or (owner, name) in FIXED:
            continue
        if (owner, name) not in FIXED_KEYS:
            assert isinstance(value, CountedSet | CountedDict), f"{owner}.{name} is a plain {type(value)}"
        checked.add((owner, name))
        for inner in value.values() if isinstance(value, dict) else value:
            if isinstance(inner, set | dict | list):
                assert isinstance(inner, CountedSet | CountedDict), f"{owner}.{name} holds a plain container"
            elif isinstance(inner, Counted | PortPool):
                checked |= _containers(inner)
    for value in vars(record).values():
        if isinstance(value, Counted | PortPool):
            checked |= _containers(value)
    return checked


def test_the_records_the_answers_read_are_counted() -> None:
    for record in (Engine, VpnState, StackState, CircuitBreaker):
        assert issubclass(record, Counted), record


# --- gzip: a second representation of each answer --------------------------------------------------------


async def _raw(client: Any, path: str, headers: dict[str, str | None]) -> tuple[int, Any, bytes]:
    """Status, headers and the body as sent (httpx would decode it); a header given as None is not sent
    at all (httpx adds its own Accept-Encoding otherwise)."""
    request = client.build_request("GET", path)
    for name, value in headers.items():
        if value is None:
            request.headers.pop(name, None)
        else:
            request.headers[name] = value
    answer = await client.send(request, stream=True)
    body = b"".join([chunk async for chunk in answer.aiter_raw()])
    await answer.aclose()
    return answer.status_code, answer.headers, body


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),  # Go's HTTP client (acexy) by default
        ("gzip, deflate, br", True),
        ("GZIP;Q=0.8", True),
        ("x-gzip", True),
        ("*", True),
        ("identity;q=0.5, gzip", True),
        (None, False),  # no header: identity
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),  # q=0 is a refusal
        ("gzip;q=0.000", False),
        ("*, gzip;q=0", False),  # the explicit entry wins over *
        ("*;q=0", False),
        ("gzip;q=0.5, identity", False),  # identity preferred
        ("gzip;q=0.5, *", False),  # identity preferred, through *
        ("br, deflate", False),
        ("gzip;q=2", False),  # an invalid q: the entry is ignored
    ],
)
async def test_gzip_is_sent_when_accept_encoding_allows_it(
    open_client: Any, auth: dict[str, str], accept_encoding: str | None, gzipped: bool
) -> None:
    async with open_client("standalone", max_replicas=3) as client:
        await _provision(client, 2, auth)
        for path in EVERY:
            status, headers, body = await _raw(client, path, {"accept-encoding": accept_encoding})
            identity = (await _raw(client, path, {"accept-encoding": "identity"}))[2]
            assert status == 200 and headers["vary"] == "Accept-Encoding"
            assert headers.get("content-encoding") == ("gzip" if gzipped else None)
            assert int(headers["content-length"]) == len(body)
            decoded = gzip.decompress(body) if gzipped else body
            assert _unstamped(json.loads(decoded)) == _unstamped(json.loads(identity))
            if gzipped:
                assert len(body) < len(identity)


async def test_the_gzip_body_decodes_to_exactly_the_identity_bytes(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_replicas=3) as client:
        await _provision(client, 3, auth)
        for path in (ENGINES, ALL):  # the status's timestamp may move between two requests
            identity = await _raw(client, path, {"accept-encoding": None})
            packed = await _raw(client, path, {"accept-encoding": "gzip"})
            assert identity[2].startswith(b"[{") and gzip.decompress(packed[2]) == identity[2]
            assert packed[1]["content-type"] == identity[1]["content-type"] == "application/json"
        status = await _raw(client, STATUS, {"accept-encoding": "gzip"})
        assert json.loads(gzip.decompress(status[2]))["engines"]["total"] == 3


async def test_each_representation_has_its_etag_and_its_304(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("standalone", max_replicas=3) as client:
        await _provision(client, 1, auth)
        for path in EVERY:
            plain = (await _raw(client, path, {"accept-encoding": None}))[1]["etag"]
            packed = (await _raw(client, path, {"accept-encoding": "gzip"}))[1]["etag"]
            assert plain != packed and packed.endswith('-gzip"')
            assert plain.startswith('W/"') == packed.startswith('W/"') == (path == STATUS)
            for accepted, etag, other in ((None, plain, packed), ("gzip", packed, plain)):
                asked = {"accept-encoding": accepted, "if-none-match": etag}
                status, headers, body = await _raw(client, path, asked)
                assert (status, body, headers["etag"]) == (304, b"", etag)
                assert headers["vary"] == "Accept-Encoding" and "content-encoding" not in headers
                # the other representation's tag does not validate this one: its body is sent
                status, headers, body = await _raw(client, path, {**asked, "if-none-match": other})
                assert (status, headers["etag"]) == (200, etag) and body
                # a list of tags naming it does
                both = {**asked, "if-none-match": f'"other", {etag}'}
                assert (await _raw(client, path, both))[0] == 304

        # a change of state: a new body and a new ETag in both encodings, the old tags no longer match
        before = {
            (path, accepted): await _raw(client, path, {"accept-encoding": accepted})
            for path in EVERY
            for accepted in (None, "gzip")
        }
        await _provision(client, 1, auth)
        for (path, accepted), (_, headers, body) in before.items():
            asked = {"accept-encoding": accepted, "if-none-match": headers["etag"]}
            status, now_headers, now_body = await _raw(client, path, asked)
            assert status == 200 and now_headers["etag"] != headers["etag"]
            decode = gzip.decompress if accepted else bytes
            shown, shown_before = json.loads(decode(now_body)), json.loads(decode(body))
            assert _unstamped(shown) != _unstamped(shown_before)
            assert _unstamped(shown) == _unstamped(Poller(client).fresh(path))


async def test_the_gzip_copy_is_made_once_per_version_not_per_request(
    open_client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []

    def counted(body: bytes, compresslevel: int, mtime: float) -> bytes:
        made.append(len(body))
        return real(body, compresslevel, mtime=mtime)

    real = gzip.compress
    monkeypatch.setattr(read_cache.gzip, "compress", counted)
    async with open_client("standalone", max_replicas=3) as client:
        await _provision(client, 2, auth)
        made.clear()
        first = [await _raw(client, ENGINES, {"accept-encoding": "gzip"}) for _ in range(5)]
        assert len(made) == 1  # built once, for the first request of this version
        answers = read_cache.answers_of(client.app.state.supervisor)
        cached = answers.engines(False).gzipped
        assert all(body == cached for _, _, body in first)
        for _ in range(5):
            await _raw(client, ENGINES, {"accept-encoding": None})
            await _raw(client, ENGINES, {"accept-encoding": "gzip"})
        assert len(made) == 1 and answers.engines(False).gzipped is cached  # the same bytes object

        await _provision(client, 1, auth)  # a new version: one new copy, then none again
        for _ in range(3):
            await _raw(client, ENGINES, {"accept-encoding": "gzip"})
        assert len(made) == 2 and answers.engines(False).gzipped is not cached


async def _provision(client: Any, count: int, auth: dict[str, str]) -> None:
    for _ in range(count):
        answer = await client.post("/provision/acestream", headers=auth)
        assert answer.status_code == 200, answer.text
