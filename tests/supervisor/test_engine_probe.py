"""The engine probe (supervisor/http_get.py through HttpProbes.engine_answers) against real local servers:
kept-alive connections, servers that close them, refuse, hang, or answer something else."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from supervisor.http_get import MalformedAnswer, parse_head
from supervisor.probes import ENGINE_VERSION_PATH, HttpProbes

pytestmark = pytest.mark.anyio

VERSION = b'{"result":{"version":"3.2.3","code":3020300},"error":null}'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(VERSION),
    VERSION,
)

# Given the request's number on its connection (1, 2, ...), what to do: bytes to send then keep the
# connection open, or bytes then close it (None: send nothing and close), or "hang".
Behaviour = Callable[[int], Awaitable[tuple[bytes | None, bool] | str]]


@dataclass
class Server:
    port: int
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def engine(behaviour: Behaviour) -> AsyncIterator[Server]:
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        server.connections += 1
        number = 0
        while True:
            try:
                request = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            number += 1
            server.requests.append(request)
            action = await behaviour(number)
            if action == "hang":
                return  # the connection stays open, unanswered, until the server goes
            assert not isinstance(action, str)
            answer, keep = action
            if answer is not None:
                writer.write(answer)
                await writer.drain()
            if not keep:
                break
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    server = Server(listener.sockets[0].getsockname()[1])
    try:
        async with listener:
            yield server
    finally:
        for writer in held:
            writer.close()


@asynccontextmanager
async def probing(timeout_s: float = 3.0) -> AsyncIterator[HttpProbes]:
    probes = HttpProbes(timeout_s=timeout_s)
    try:
        yield probes
    finally:
        await probes.close()


def always(answer: bytes | None, keep: bool = True) -> Behaviour:
    async def behaviour(number: int) -> tuple[bytes | None, bool]:
        return answer, keep

    return behaviour


async def test_an_engine_answering_is_asked_again_on_the_same_connection() -> None:
    async with engine(always(OK)) as server, probing() as probes:
        answers = [await probes.engine_answers("127.0.0.1", server.port) for _ in range(3)]
    assert answers == [True, True, True]
    assert server.connections == 1
    assert server.requests[0].startswith(f"GET {ENGINE_VERSION_PATH} HTTP/1.1\r\n".encode())
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n".encode() in server.requests[0]


async def test_a_refused_connection_is_no_answer() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        async with probing() as probes:
            assert await probes.engine_answers("127.0.0.1", port) is False


@pytest.mark.parametrize(
    "answer",
    [
        b"garbage\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",  # then the connection closes: no end of headers
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
        b"",
    ],
)
async def test_an_answer_that_is_not_http_is_no_answer(answer: bytes) -> None:
    async with engine(always(answer, keep=False)) as server, probing() as probes:
        assert await probes.engine_answers("127.0.0.1", server.port) is False


@pytest.mark.parametrize("status", [404, 500, 503, 301])
async def test_an_answer_other_than_200_is_no_answer(status: int) -> None:
    answer = b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\n{}" % status
    async with engine(always(answer)) as server, probing() as probes:
        assert await probes.engine_answers("127.0.0.1", server.port) is False
        assert await probes.engine_answers("127.0.0.1", server.port) is False
    assert server.connections == 1  # a delimited answer keeps the connection, whatever its status


async def test_an_engine_that_never_answers_is_no_answer_after_the_timeout() -> None:
    async def hang(number: int) -> str:
        return "hang"

    async with engine(hang) as server, probing(timeout_s=0.2) as probes:
        assert await probes.engine_answers("127.0.0.1", server.port) is False


async def test_an_engine_that_hangs_on_a_kept_connection_answers_again_on_a_new_one() -> None:
    hung = asyncio.Event()

    async def second_hangs(number: int) -> tuple[bytes, bool] | str:
        if number == 2 and not hung.is_set():
            hung.set()
            return "hang"
        return OK, True

    async with engine(second_hangs) as server, probing(timeout_s=0.2) as probes:
        answers = [await probes.engine_answers("127.0.0.1", server.port) for _ in range(3)]
    assert answers == [True, False, True]
    assert server.connections == 2


async def test_an_engine_closing_each_connection_after_answering_still_answers() -> None:
    # Closes without saying "Connection: close": the probe finds the kept connection dead.
    async with engine(always(OK, keep=False)) as server, probing() as probes:
        answers = []
        for _ in range(3):
            answers.append(await probes.engine_answers("127.0.0.1", server.port))
            await asyncio.sleep(0.01)  # the close reaches the probe's side before the next probe
    assert answers == [True, True, True]
    assert server.connections == 3


async def test_an_engine_closing_a_kept_connection_as_the_probe_asks_still_answers() -> None:
    # The race of an idle timeout: the request goes out on a connection the server is closing.
    async def close_on_second(number: int) -> tuple[bytes | None, bool]:
        return (OK, True) if number == 1 else (None, False)

    async with engine(close_on_second) as server, probing() as probes:
        answers = [await probes.engine_answers("127.0.0.1", server.port) for _ in range(3)]
    assert answers == [True, True, True]  # each second request is retried on a new connection


async def test_connection_close_and_unsized_bodies_are_not_kept() -> None:
    closing = OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    for answer in (closing, chunked):
        async with engine(always(answer)) as server, probing() as probes:
            answers = [await probes.engine_answers("127.0.0.1", server.port) for _ in range(2)]
        assert answers == [True, True]
        assert server.connections == 2


async def test_probes_of_the_same_engines_at_once_all_answer() -> None:
    async with engine(always(OK)) as first, engine(always(OK)) as second, probing() as probes:
        for _ in range(2):
            calls = [probes.engine_answers("127.0.0.1", port) for port in (first.port, second.port) * 5]
            assert await asyncio.gather(*calls) == [True] * 10


@pytest.mark.parametrize(
    ("head", "parsed"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", (200, 5, True, False)),
        (b"HTTP/1.1 200 OK\r\ncontent-length:5\r\nConnection: close\r\n\r\n", (200, 5, False, False)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", (200, 5, False, False)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n", (200, 5, True, False)),
        (b"HTTP/1.1 204 No Content\r\n\r\n", (204, 0, True, False)),
        (b"HTTP/1.1 200 OK\r\n\r\n", (200, None, True, False)),  # read until close: not kept by the caller
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", (200, None, False, True)),
        (b"HTTP/1.1 100 Continue\r\n\r\n", (100, 0, False, False)),
    ],
)
def test_answer_heads_are_parsed(head: bytes, parsed: tuple[int, int | None, bool, bool]) -> None:
    assert parse_head(head) == parsed


@pytest.mark.parametrize("head", [b"ICY 200 OK\r\n\r\n", b"HTTP/1.1 OK\r\n\r\n", b"HTTP/2 200\r\n\r\n"])
def test_heads_that_are_not_http_1_are_refused(head: bytes) -> None:
    with pytest.raises(MalformedAnswer):
        parse_head(head)
