"""A minimal HTTP/1.1 GET over kept-alive connections, one idle connection kept per address.

The health loop asks hundreds of engines the same small question every few seconds. Through httpx one
such request costs about 1.7 ms of event-loop time, and its pool keeps only so many connections alive;
here it is a write and two reads on a connection kept from the last time (a fresh one when the server
closed it), a few tens of microseconds. Every exchange runs under one timeout, a reconnection included.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

HEAD_LIMIT = 16 * 1024  # a status line and headers longer than this are not an engine's answer
BODY_LIMIT = 1024 * 1024  # a longer body is not read: the connection is closed instead
IDLE_S = 120.0  # an idle connection older than this is closed (the server may have forgotten it)
MAX_IDLE = 4096  # idle connections kept at most (addresses of engines long gone are dropped first)


class MalformedAnswer(ValueError):
    pass


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float, idle_s: float) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing() or now - self.idle_since > idle_s)


class KeepAliveClient:
    def __init__(self, timeout_s: float, idle_s: float = IDLE_S, max_idle: int = MAX_IDLE) -> None:
        self._timeout_s = timeout_s
        self._idle_s = idle_s
        self._max_idle = max_idle
        self._idle: dict[tuple[str, int], _Connection] = {}  # oldest first

    async def status(self, host: str, port: int, path: str) -> int | None:
        """The status code GET `path` answers, or None: no connection, no HTTP answer in time."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._get(host, port, path)
        except (OSError, TimeoutError, EOFError, ValueError, asyncio.LimitOverrunError):
            return None  # IncompleteReadError is an EOFError, MalformedAnswer a ValueError

    async def _get(self, host: str, port: int, path: str) -> int:
        address = (host, port)
        request = f"GET {path} HTTP/1.1\r\nHost: {_host_header(host, port)}\r\n\r\n".encode()
        kept = self._take(address)
        if kept is not None:
            try:
                return await self._exchange(address, kept, request)
            except (OSError, EOFError):
                pass  # the server closed the kept connection as we sent: once more on a new one
        reader, writer = await asyncio.open_connection(host, port, limit=HEAD_LIMIT)
        return await self._exchange(address, _Connection(reader, writer), request)

    async def _exchange(self, address: tuple[str, int], connection: _Connection, request: bytes) -> int:
        try:
            connection.writer.write(request)
            head = await connection.reader.readuntil(b"\r\n\r\n")
            status, length, keep = parse_head(head)
            if length is not None and length <= BODY_LIMIT:
                await connection.reader.readexactly(length)
            else:
                keep = False  # a body without a length (or too long) is not read: close instead
        except BaseException:
            connection.writer.close()
            raise
        if keep:
            self._keep(address, connection)
        else:
            connection.writer.close()
        return status

    def _take(self, address: tuple[str, int]) -> _Connection | None:
        connection = self._idle.pop(address, None)
        if connection is None or connection.usable(time.monotonic(), self._idle_s):
            return connection
        connection.writer.close()
        return None

    def _keep(self, address: tuple[str, int], connection: _Connection) -> None:
        now = time.monotonic()
        earlier = self._idle.pop(address, None)  # a concurrent GET to the same address kept one
        if earlier is not None:
            earlier.writer.close()
        connection.idle_since = now
        self._idle[address] = connection
        while self._idle:  # oldest first: drop those past their time, and any beyond the cap
            oldest = next(iter(self._idle))
            if len(self._idle) <= self._max_idle and self._idle[oldest].usable(now, self._idle_s):
                break
            self._idle.pop(oldest).writer.close()

    def close(self) -> None:
        for connection in self._idle.values():
            connection.writer.close()
        self._idle.clear()


def parse_head(head: bytes) -> tuple[int, int | None, bool]:
    """Status code, body length (None: not delimited by Content-Length) and whether the connection stays
    open, from an answer's status line and headers."""
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
            return status, None, False
        elif name == b"connection":
            keep = value == b"keep-alive" or (keep and value != b"close")
    if status < 200:  # an interim answer (no GET here asks for one): the final one would follow
        return status, 0, False
    if status in (204, 304):
        length = 0
    return status, length, keep


def _host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
