"""The stat collector over kept-alive connections: the stream check asks each engine's stat URLs on a few
connections kept from pass to pass (at most a few requests in flight per engine), a connection that fails
gives no verdict, and DELETE /streams/{id} stops the session over the same connections. Against a local
HTTP/1.1 engine (asyncio) whose figures move with every answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.core.clock import ManualClock
from supervisor.core.stream_check import read_stat_answer, stop_confirmed
from supervisor.http_get import PER_ADDRESS, KeepAliveClient
from supervisor.probes import HttpProbes

pytestmark = pytest.mark.anyio

VERSION = b'{"result": {"version": "3.1.70"}, "error": null}'
GONE = b'{"response": null, "error": "unknown playback session id"}'


def test_a_stat_answer_is_read_from_its_status_and_body() -> None:
    alive = b'{"response": {"status": "dl", "peers": 3, "downloaded": 10}, "error": null}'
    stat = read_stat_answer(200, alive)
    assert stat is not None and (stat.status, stat.peers, stat.downloaded) == ("dl", 3, 10)
    assert read_stat_answer(200, GONE) is None
    assert read_stat_answer(404, GONE) is None  # a 404 naming the session is gone too
    for status, body in ((500, GONE), (404, b"not found"), (200, b"<html>"), (200, b"\xff\xfe"), (302, b"")):
        with pytest.raises(ValueError):
            read_stat_answer(status, body)


def test_a_stop_is_confirmed_only_by_the_engines_ok() -> None:
    assert stop_confirmed(200, b'{"response": "ok", "error": null}')
    assert not stop_confirmed(200, GONE)
    assert not stop_confirmed(500, b'{"response": "ok", "error": null}')
    assert not stop_confirmed(200, b"ok")
    assert not stop_confirmed(200, b'["ok"]')


@dataclass
class Engine:
    """A local engine: HTTP/1.1, kept-alive connections, a session's figures growing with each answer."""

    port: int = 0
    sessions: dict[str, int] = field(default_factory=dict)  # session -> stat answers given
    connections: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    delay_s: float = 0.0
    held: list[asyncio.StreamWriter] = field(default_factory=list)

    def answer(self, target: str) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        session = path.rsplit("/", 1)[-1]
        if path == "/webui/api/service":
            return 200, VERSION
        if path.startswith("/ace/cmd/") and query == "method=stop":
            known = self.sessions.pop(session, None) is not None
            return 200, b'{"response": "ok", "error": null}' if known else GONE
        if path.startswith("/ace/stat/") and session in self.sessions:
            self.sessions[session] += 1
            answers = self.sessions[session]
            figures = {"status": "dl", "peers": 7, "downloaded": answers * 1024, "speed_down": 100 + answers}
            return 200, json.dumps({"response": figures, "error": None}).encode()
        return 200, GONE

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.held.append(writer)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            await asyncio.sleep(self.delay_s)
            self.in_flight -= 1
            status, body = self.answer(head.split(b" ")[1].decode())
            writer.write(
                b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (status, len(body), body)
            )
            await writer.drain()
        writer.close()

    def drop_connections(self) -> None:
        for writer in self.held:
            writer.close()
        self.held.clear()


@asynccontextmanager
async def local_engine() -> AsyncIterator[Engine]:
    engine = Engine()
    server = await asyncio.start_server(engine.handle, "127.0.0.1", 0)
    engine.port = server.sockets[0].getsockname()[1]
    try:
        async with server:
            yield engine
    finally:
        engine.drop_connections()


async def test_requests_to_one_engine_share_a_few_kept_connections() -> None:
    async with local_engine() as engine:
        engine.sessions = {f"s{n}": 0 for n in range(20)}
        engine.delay_s = 0.01  # long enough for every request to be waiting at once
        client = KeepAliveClient(timeout_s=3)
        try:
            for _ in range(3):
                replies = await asyncio.gather(
                    *(client.get("127.0.0.1", engine.port, f"/ace/stat/x/s{n}") for n in range(20))
                )
                assert all(reply is not None and reply.status == 200 for reply in replies)
            assert engine.connections == PER_ADDRESS  # opened once, kept across the rounds
            assert engine.most_in_flight == PER_ADDRESS
            assert client.idle_connections("127.0.0.1", engine.port) == PER_ADDRESS
            assert set(engine.sessions.values()) == {3}
        finally:
            client.close()


async def test_requests_queued_for_an_engine_that_hangs_give_up_within_one_timeout() -> None:
    async with local_engine() as engine:
        engine.delay_s = 60
        client = KeepAliveClient(timeout_s=0.3)
        try:
            replies = await asyncio.gather(
                *(client.get("127.0.0.1", engine.port, f"/ace/stat/x/s{n}") for n in range(5 * PER_ADDRESS))
            )
        finally:
            client.close()
    assert replies == [None] * (5 * PER_ADDRESS)
    # Only the first PER_ADDRESS were ever sent: the others spent their timeout waiting for a slot, rather
    # than each wave being sent (on a new connection) once the one before it had timed out.
    assert engine.connections == PER_ADDRESS


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{"a": \r\n2\r\n1}\r\n0\r\n\r\n',
        b'HTTP/1.0 200 OK\r\n\r\n{"a": 1}',  # delimited by the connection's close
    ],
)
async def test_bodies_without_a_length_are_read(answer: bytes) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = KeepAliveClient(timeout_s=3)
    async with server:
        reply = await client.get("127.0.0.1", port, "/ace/stat/x/s1")
    assert reply is not None and json.loads(reply.body) == {"a": 1}
    assert client.idle_connections("127.0.0.1", port) == 0  # not kept: its end was the connection's
    client.close()


@pytest.fixture
def probes() -> HttpProbes:
    """The real HTTP probes (the app closes them at its shutdown), instead of the fake ones."""
    return HttpProbes(timeout_s=0.5)


async def _start(client: Any, auth: dict[str, str], port: int, session: str) -> str:
    answer = await client.post(
        "/events/stream_started", json=started_event(port, key=session, session=session), headers=auth
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


async def test_stats_move_across_passes_on_kept_connections_and_delete_stops_the_session(
    open_client: Any, auth: dict[str, str], clock: ManualClock
) -> None:
    async with local_engine() as engine:
        env = {"probe_host": "127.0.0.1"}
        async with open_client(
            env=env, max_replicas=1, size=1, first_port=engine.port, max_streams_per_engine=50
        ) as client:
            supervisor = client.app.state.supervisor
            assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
            engine.sessions = {f"s{n}": 0 for n in range(16)}
            ids = [await _start(client, auth, engine.port, f"s{n}") for n in range(16)]
            opened = engine.connections
            for _ in range(3):
                clock.advance(1)
                await supervisor.stream_check.tick()
            assert engine.connections - opened <= PER_ADDRESS  # three passes of 16, on kept connections
            samples = (await client.get(f"/streams/{ids[0]}/stats")).json()
            assert [s["downloaded"] for s in samples] == [1024, 2048, 3072]  # every pass asked anew
            assert len({s["at"] for s in samples}) == 3
            (engine_id,) = supervisor.state.engines
            assert supervisor.state.engines[engine_id].live_sessions == 16

            # The engine drops every connection (as a restart would): the next pass asks on new ones.
            engine.drop_connections()
            await asyncio.sleep(0.01)
            clock.advance(1)
            await supervisor.stream_check.tick()
            assert len((await client.get(f"/streams/{ids[0]}/stats")).json()) == 4

            kept = engine.connections
            deleted = await client.delete(f"/streams/{ids[0]}", headers=auth)
            assert deleted.status_code == 200, deleted.text
            assert deleted.json()["engine_confirmed"] is True
            assert "s0" not in engine.sessions  # stopped on the engine itself
            assert engine.connections == kept  # over a kept connection
            assert (await client.get(f"/streams/{ids[0]}")).status_code == 404
