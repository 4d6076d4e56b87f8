"""A minimal HTTP/1.1 GET over kept-alive connections: a small pool of them per address, a bounded number
of requests in flight per address.

The health loop asks hundreds of engines the same small question every few seconds, and the stream check
asks each engine the stat URL of every stream it serves. Through httpx one such request costs about
1.7 ms of event-loop time, and its pool keeps only so many connections alive; here it is a write and two
reads on a connection kept from the last time (a fresh one when the server closed it), a few tens of
microseconds. At most `per_address` requests to one address are in flight (each on its own connection,
never pipelined), so one engine is not asked on dozens of connections at once, and at most that many
idle connections are kept for it. Every exchange runs under one timeout, the wait for a free slot of its
address and a reconnection included: an engine that hangs costs one timeout per pass, however many
requests were queued for it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import NamedTuple

HEAD_LIMIT = 16 * 1024  # a status line and headers longer than this are not an engine's answer
# A request that waited for a free connection until less than this share of its timeout is left is not
# sent: its answer could hardly come in time, and it would open a connection to an engine that has just
# let the requests before it time out.
MIN_SEND_SHARE = 0.5
BODY_LIMIT = 1024 * 1024  # a longer body is not read: the connection is closed instead
IDLE_S = 120.0  # an idle connection older than this is closed (the server may have forgotten it)
MAX_IDLE = 4096  # idle connections kept at most (addresses of engines long gone are dropped first)
PER_ADDRESS = 10  # requests in flight to one address at most, and idle connections kept for it

Address = tuple[str, int]


class MalformedAnswer(ValueError):
    pass


class Head(NamedTuple):
    """An answer's status line and headers, as far as reading its body and keeping the connection go."""

    status: int
    length: int | None  # the body's Content-Length; None: chunked, or delimited by the connection's close
    keep: bool  # the connection may carry another request
    chunked: bool = False


class Reply(NamedTuple):
    status: int
    body: bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float, idle_s: float) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing() or now - self.idle_since > idle_s)


@dataclass
class _Gate:
    """The slots of one address; dropped once nobody holds or waits for one."""

    slots: asyncio.Semaphore
    users: int = 0


@dataclass
class _Pool:
    idle: dict[Address, list[_Connection]] = field(default_factory=dict)  # least recently kept first
    count: int = 0


class KeepAliveClient:
    def __init__(
        self,
        timeout_s: float,
        idle_s: float = IDLE_S,
        max_idle: int = MAX_IDLE,
        per_address: int = PER_ADDRESS,
    ) -> None:
        if per_address < 1:
            raise ValueError(f"per_address is {per_address}: at least one request per address")
        self._timeout_s = timeout_s
        self._idle_s = idle_s
        self._max_idle = max_idle
        self._per_address = per_address
        self._pool = _Pool()
        self._gates: dict[Address, _Gate] = {}

    async def status(self, host: str, port: int, path: str) -> int | None:
        """The status code GET `path` answers, or None: no connection, no HTTP answer in time."""
        reply = await self._request(host, port, path, with_body=False)
        return None if reply is None else reply.status

    async def get(self, host: str, port: int, target: str) -> Reply | None:
        """GET `target` (path and query): the status and body, or None: no connection, no complete HTTP
        answer in time (the connection is then dropped)."""
        return await self._request(host, port, target, with_body=True)

    async def _request(self, host: str, port: int, target: str, with_body: bool) -> Reply | None:
        address = (host, port)
        request = f"GET {target} HTTP/1.1\r\nHost: {_host_header(host, port)}\r\n\r\n".encode()
        gate = self._gates.get(address)
        if gate is None:
            gate = self._gates[address] = _Gate(asyncio.Semaphore(self._per_address))
        gate.users += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        try:
            async with asyncio.timeout_at(deadline), gate.slots:
                if deadline - loop.time() < self._timeout_s * MIN_SEND_SHARE:
                    return None  # it waited for a slot behind requests that hung: no verdict, no new wave
                return await self._get(address, request, with_body)
        except (OSError, TimeoutError, EOFError, ValueError, asyncio.LimitOverrunError):
            return None  # IncompleteReadError is an EOFError, MalformedAnswer a ValueError
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[address]

    async def _get(self, address: Address, request: bytes, with_body: bool) -> Reply:
        kept = self._take(address)
        if kept is not None:
            try:
                return await self._exchange(address, kept, request, with_body)
            except (OSError, EOFError):
                pass  # the server closed the kept connection as we sent: once more on a new one
        reader, writer = await asyncio.open_connection(*address, limit=HEAD_LIMIT)
        return await self._exchange(address, _Connection(reader, writer), request, with_body)

    async def _exchange(
        self, address: Address, connection: _Connection, request: bytes, with_body: bool
    ) -> Reply:
        body = b""
        try:
            connection.writer.write(request)
            head = parse_head(await connection.reader.readuntil(b"\r\n\r\n"))
            keep = head.keep
            if head.length is not None and head.length <= BODY_LIMIT:
                body = await connection.reader.readexactly(head.length)
            elif head.length is not None and with_body:
                raise MalformedAnswer(f"a body of {head.length} bytes, more than {BODY_LIMIT}")
            else:  # not delimited by a length: never kept
                keep = False
                if with_body:
                    read = _read_chunks if head.chunked else _read_to_close
                    body = await read(connection.reader)
        except BaseException:
            connection.writer.close()
            raise
        if keep:
            self._keep(address, connection)
        else:
            connection.writer.close()
        return Reply(head.status, body)

    def _take(self, address: Address) -> _Connection | None:
        """The most recently kept usable connection to `address` (the others stay idle; stale ones are
        closed)."""
        kept = self._pool.idle.get(address)
        now = time.monotonic()
        while kept:
            connection = kept.pop()
            self._pool.count -= 1
            if not kept:
                del self._pool.idle[address]
            if connection.usable(now, self._idle_s):
                return connection
            connection.writer.close()
        return None

    def _keep(self, address: Address, connection: _Connection) -> None:
        now = time.monotonic()
        connection.idle_since = now
        kept = self._pool.idle.pop(address, [])  # re-inserted last: addresses kept least recently first
        kept.append(connection)
        self._pool.idle[address] = kept
        self._pool.count += 1
        if len(kept) > self._per_address:  # more came back than one address may keep
            kept.pop(0).writer.close()
            self._pool.count -= 1
        while self._pool.count:  # oldest first: drop those past their time, and any beyond the cap
            oldest_address = next(iter(self._pool.idle))
            oldest = self._pool.idle[oldest_address]
            if self._pool.count <= self._max_idle and oldest[0].usable(now, self._idle_s):
                break
            oldest.pop(0).writer.close()
            self._pool.count -= 1
            if not oldest:
                del self._pool.idle[oldest_address]

    def idle_connections(self, host: str, port: int) -> int:
        """Connections kept open to an address, for tests and benchmarks."""
        return len(self._pool.idle.get((host, port), ()))

    def close(self) -> None:
        for kept in self._pool.idle.values():
            for connection in kept:
                connection.writer.close()
        self._pool = _Pool()


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise MalformedAnswer(f"chunk size {size_text[:40]!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return bytes(body)
        if len(body) + size > BODY_LIMIT:
            raise MalformedAnswer(f"a chunked body longer than {BODY_LIMIT} bytes")
        body += await reader.readexactly(size + 2)
        del body[-2:]


async def _read_to_close(reader: asyncio.StreamReader) -> bytes:
    body = await reader.read(BODY_LIMIT + 1)
    while not reader.at_eof() and len(body) <= BODY_LIMIT:
        more = await reader.read(BODY_LIMIT + 1 - len(body))
        if not more:
            break
        body += more
    if len(body) > BODY_LIMIT:
        raise MalformedAnswer(f"a body longer than {BODY_LIMIT} bytes")
    return body


def parse_head(head: bytes) -> Head:
    """Status code, body length (None: not delimited by Content-Length), whether the connection stays
    open and whether the body is chunked, from an answer's status line and headers."""
    status_line, *headers = head[:-4].split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise MalformedAnswer(f"not an HTTP answer: {status_line[:80]!r}")
    status, length, keep = int(code), None, version == b"HTTP/1.1"
    for line in headers:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            if not value.isdigit():
                raise MalformedAnswer(f"Content-Length {value[:40]!r}")
            length = int(value)
        elif name == b"transfer-encoding":
            return Head(status, None, False, chunked=value.endswith(b"chunked"))
        elif name == b"connection":
            keep = value == b"keep-alive" or (keep and value != b"close")
    if status < 200:  # an interim answer (no GET here asks for one): the final one would follow
        return Head(status, 0, False)
    if status in (204, 304):
        length = 0
    return Head(status, length, keep)


def _host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
