"""Streams checked against their engines: a stream whose session the engine no longer knows is ended as
stale; one whose engine does not answer is kept; an engine reports the sessions it still serves."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.core.records import serving
from supervisor.core.stream_check import (
    Answer,
    LivePosition,
    gone_in_a_row,
    is_stale,
    live_count,
    read_stat,
)
from supervisor.loops.stream_check import StreamCheckLoop
from supervisor.probes import HttpProbes, ProbeFailure

pytestmark = pytest.mark.anyio

# The stat answer of AceStream's developer docs (start-playback.md): livepos values come as strings.
DOCUMENTED_STAT = {
    "response": {
        "uploaded": 491520,
        "speed_down": 257,
        "speed_up": 29,
        "status": "dl",
        "downloaded": 3276800,
        "peers": 4,
        "playback_session_id": "15ad634c7ed4deb28045e641c825adcebe5b5f27",
        "is_live": 1,
        "livepos": {
            "last": "1639986704",
            "live_first": "1639984904",
            "pos": "1639986704",
            "first_ts": "1639984904",
            "last_ts": "1639986704",
            "is_live": "1",
            "live_last": "1639986704",
            "buffer_pieces": "30",
        },
    },
    "error": None,
}


def test_a_stat_answer_is_alive_gone_or_no_verdict() -> None:
    stat = read_stat(DOCUMENTED_STAT)
    assert stat is not None
    assert (stat.status, stat.peers, stat.speed_down, stat.speed_up) == ("dl", 4, 257, 29)
    assert (stat.downloaded, stat.uploaded) == (3276800, 491520)
    assert stat.livepos == LivePosition(
        1639986704, 1639984904, 1639986704, 1639986704, 1639984904, 1639986704, 30
    )
    assert read_stat({"response": None, "error": "unknown playback session id"}) is None
    for not_a_verdict in (
        [],
        "ok",
        {"response": None, "error": "engine is busy"},
        {"response": "x", "error": None},
    ):
        with pytest.raises(ValueError):
            read_stat(not_a_verdict)


def test_only_gone_answers_in_a_row_make_a_stream_stale() -> None:
    def run(answers: list[Answer]) -> bool:
        gone = 0
        for answer in answers:
            gone = gone_in_a_row(answer, gone)
        return is_stale(gone, threshold=2)

    assert run([Answer.gone, Answer.gone])
    assert not run([Answer.gone])  # one glitch does not cut a viewer
    assert not run([Answer.gone, Answer.alive, Answer.gone])
    assert run([Answer.gone, Answer.unknown, Answer.gone])  # no verdict says nothing either way
    assert not run([Answer.unknown] * 10)  # an engine that never answers never ends a stream


def test_live_sessions_count_what_the_engine_reports() -> None:
    assert live_count([Answer.alive, Answer.gone, Answer.alive]) == 2
    assert live_count([Answer.alive, Answer.unknown]) == 1
    assert live_count([Answer.unknown, Answer.gone]) is None
    assert live_count([]) == 0


async def _start(client: Any, auth: dict[str, str], port: int, session: str, **extra: Any) -> str:
    answer = await client.post(
        "/events/stream_started", json=started_event(port, session=session, **extra), headers=auth
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


async def _status_of(client: Any, stream_id: str) -> str:
    (stream,) = [s for s in (await client.get("/streams")).json() if s["id"] == stream_id]
    return str(stream["status"])


async def _events(client: Any, kind: str) -> list[str]:
    return [event["message"] for event in (await client.get("/events", params={"type": kind})).json()]


@asynccontextmanager
async def stack(open_client: Any, auth: dict[str, str], mode: str = "standalone") -> AsyncIterator[Any]:
    """The app with one engine; yields (client, the stream check, the engine's published port)."""
    async with open_client(mode) as client:
        supervisor = client.app.state.supervisor
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        check = StreamCheckLoop(supervisor.state, supervisor.probes, supervisor.streams)
        yield client, check, engine["host_http_port"]


async def test_a_session_the_engine_no_longer_knows_ends_as_stale(
    open_client: Any, auth: dict[str, str], probes: Any
) -> None:
    async with stack(open_client, auth) as (client, check, port):
        stream_id = await _start(client, auth, port, "s1")
        kept = await _start(client, auth, port, "s2")
        await check.tick()
        probes.ended_sessions.add("s1")  # stopped behind the supervisor's back
        await check.tick()
        assert await _status_of(client, stream_id) == "started"  # one answer is not enough
        await check.tick()
        assert await _status_of(client, stream_id) == "ended"
        assert await _status_of(client, kept) == "started"
        (message,) = await _events(client, "stream_stale")
        assert message.startswith(f"{stream_id}: stale") and "session s1" in message
        (engine,) = (await client.get("/engines")).json()
        assert engine["streams"] == [kept]
        status = (await client.get("/orchestrator/status")).json()
        assert status["streams"]["active"] == 1


async def test_a_stream_whose_engine_does_not_answer_is_kept(
    open_client: Any, auth: dict[str, str], probes: Any
) -> None:
    async with stack(open_client, auth) as (client, check, port):
        stream_id = await _start(client, auth, port, "s1")
        probes.silent.add(port)
        probes.ended_sessions.add("s1")  # whatever the engine would say, it cannot be asked
        for _ in range(5):
            await check.tick()
        assert len(probes.stat_calls) == 5
        assert await _status_of(client, stream_id) == "started"
        assert await _events(client, "stream_stale") == []
        (engine,) = client.app.state.supervisor.state.engines.values()
        assert engine.live_sessions is None  # unknown, not "none"


async def test_a_stream_ended_by_the_proxy_while_its_engine_was_asked_keeps_its_reason(
    open_client: Any, auth: dict[str, str], probes: Any
) -> None:
    async with stack(open_client, auth) as (client, check, port):
        stream_id = await _start(client, auth, port, "s1")
        probes.ended_sessions.add("s1")
        await check.tick()
        probes.stat_gate = asyncio.Event()
        tick = asyncio.create_task(check.tick())
        while len(probes.stat_calls) != 2:
            await asyncio.sleep(0)
        ended = {"stream_id": stream_id, "reason": "completed"}
        assert (await client.post("/events/stream_ended", json=ended, headers=auth)).status_code == 200
        probes.stat_gate.set()
        await tick
        assert await _events(client, "stream_stale") == []
        assert await _events(client, "stream_ended") == [f"{stream_id}: completed"]


async def test_the_engine_is_asked_where_the_supervisor_reaches_it(
    open_client: Any, auth: dict[str, str], probes: Any
) -> None:
    """acexy's stat_url names the engine as acexy reaches it (localhost); behind a VPN the supervisor
    reaches it at its gluetun's address, so only the URL's path is kept."""
    async with stack(open_client, auth, mode="single") as (client, check, port):
        await _start(client, auth, port, "s1")
        await check.tick()
        supervisor = client.app.state.supervisor
        gluetun = supervisor.state.vpns["gluetun"].address
        assert probes.stat_calls == [f"http://{gluetun}:{port}/ace/stat/x/s1"]


async def test_a_stream_without_a_stat_path_is_never_judged(
    open_client: Any, auth: dict[str, str], probes: Any
) -> None:
    async with stack(open_client, auth) as (client, check, port):
        event = started_event(port, session="s1")
        event["session"]["stat_url"] = ""
        answer = await client.post("/events/stream_started", json=event, headers=auth)
        for _ in range(3):
            await check.tick()
        assert probes.stat_calls == []
        assert await _status_of(client, answer.json()["id"]) == "started"


async def test_each_answer_is_kept_as_a_stat_sample_while_the_stream_is_active(
    open_client: Any, auth: dict[str, str], clock: Any
) -> None:
    async with stack(open_client, auth) as (client, check, port):
        streams = client.app.state.supervisor.streams
        stream_id = await _start(client, auth, port, "s1")
        for _ in range(3):
            await check.tick()
            clock.advance(20)
        samples = streams.stat_history(stream_id)
        assert [s.stat.peers for s in samples] == [7, 7, 7]
        assert [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(samples)] == [20, 20]
        await client.post("/events/stream_ended", json={"stream_id": stream_id}, headers=auth)
        await check.tick()
        assert streams.stat_history(stream_id) == []  # memory follows the active streams


async def test_an_engine_serves_while_it_reports_a_session_the_proxy_said_had_ended(
    open_client: Any, auth: dict[str, str], probes: Any
) -> None:
    """The engine's API lists no sessions, but it answers for every session whose stat URL is known: a
    stream ended by the proxy while its engine still plays it keeps the engine serving until the engine
    lets the session go, so the engine is not removed as idle under a viewer."""
    async with stack(open_client, auth) as (client, check, port):
        (engine,) = client.app.state.supervisor.state.engines.values()
        stream_id = await _start(client, auth, port, "s1")
        await check.tick()
        assert (engine.live_sessions, serving(engine)) == (1, True)
        await client.post("/events/stream_ended", json={"stream_id": stream_id}, headers=auth)
        assert engine.streams == set()
        await check.tick()
        assert (engine.live_sessions, serving(engine)) == (1, True)  # the engine still plays it
        probes.ended_sessions.add("s1")
        await check.tick()
        assert (engine.live_sessions, serving(engine)) == (0, False)
        await check.tick()
        assert probes.stat_calls.count(probes.stat_calls[0]) == 3  # no longer asked once gone


async def test_a_stale_end_asks_for_a_pass_soon(open_client: Any, auth: dict[str, str], probes: Any) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        port = (await client.post("/provision/acestream", headers=auth)).json()["host_http_port"]
        kicks: list[None] = []
        check = StreamCheckLoop(
            supervisor.state, supervisor.probes, supervisor.streams, on_stale=lambda: kicks.append(None)
        )
        await _start(client, auth, port, "s1")
        probes.ended_sessions.add("s1")
        await check.tick()
        assert kicks == []
        await check.tick()
        assert kicks == [None]


Answerer = Callable[[str], tuple[int, bytes]]


@asynccontextmanager
async def engine_server(answer: Answerer) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        status, body = answer(head.split(b" ")[1].decode())
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, b'{"response": {"status": "prebuf", "peers": 3}, "error": null}', "alive"),
        (200, b'{"response": null, "error": "unknown playback session id"}', "gone"),
        (404, b'{"response": null, "error": "unknown playback session id"}', "gone"),
        (500, b'{"response": null, "error": "unknown playback session id"}', "no verdict"),
        (200, b"<html>proxy error</html>", "no verdict"),
        (200, b'{"response": null, "error": "not ready"}', "no verdict"),
    ],
)
async def test_the_http_probe_reads_the_engines_stat_answer(status: int, body: bytes, verdict: str) -> None:
    probes = HttpProbes()
    try:
        async with engine_server(lambda path: (status, body)) as port:
            url = f"http://127.0.0.1:{port}/ace/stat/ih/s1"
            if verdict == "no verdict":
                with pytest.raises(ProbeFailure, match="/ace/stat/ih/s1"):
                    await probes.stream_stat(url)
            else:
                stat = await probes.stream_stat(url)
                assert (stat is None) == (verdict == "gone")
    finally:
        await probes.close()


async def test_the_http_probe_gives_no_verdict_when_the_engine_is_not_there() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    probes = HttpProbes()
    try:
        with pytest.raises(ProbeFailure):
            await probes.stream_stat(f"http://127.0.0.1:{port}/ace/stat/ih/s1")
    finally:
        await probes.close()
