"""The HTTP probes against tiny local servers: malformed answers and many hung engines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from supervisor.probes import HttpProbes, ProbeFailure

pytestmark = pytest.mark.anyio

Answer = Callable[[str], tuple[int, bytes]]  # request path -> status and JSON body


@asynccontextmanager
async def http_server(answer: Answer) -> AsyncIterator[int]:
    """A one-request-per-connection HTTP server on 127.0.0.1; yields its port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        status, body = answer(path)
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("status_body", "port_body"),
    [
        (b'["running"]', b'{"port": 5914}'),
        (b'"running"', b'{"port": 5914}'),
        (b"null", b'{"port": 5914}'),
        (b'{"status": "running"}', b"[5914]"),
        (b'{"status": "running"}', b'{"port": [5914]}'),
        (b'{"status": "running"}', b'{"port": "many"}'),
        (b'{"status": "running"}', b'{"ports": "5914"}'),
        (b'{"status": "running"}', b'{"ports": [5914, "x"]}'),
        (b'{"status": "running"}', b'{"port": 70000}'),
        (b"not json", b'{"port": 5914}'),
    ],
)
async def test_a_control_server_answering_out_of_shape_is_a_probe_failure(
    status_body: bytes, port_body: bytes
) -> None:
    def answer(path: str) -> tuple[int, bytes]:
        return 200, status_body if path == "/v1/vpn/status" else port_body

    probes = HttpProbes()
    try:
        async with http_server(answer) as port:
            with pytest.raises(ProbeFailure, match=f"control server http://127.0.0.1:{port}"):
                await probes.vpn_report("127.0.0.1", port, "key", port_forwarding=True)
    finally:
        await probes.close()


@pytest.mark.parametrize(
    ("port_body", "first", "every"),
    [
        (b'{"port": 5914}', 5914, (5914,)),
        (b'{"port": 0}', None, ()),
        (b"{}", None, ()),
        # gluetun v3.41.1 when the provider forwards several ports: no "port" key at all
        (b'{"ports": [5914, 6001, 6002]}', 5914, (5914, 6001, 6002)),
        (b'{"ports": []}', None, ()),
    ],
)
async def test_both_portforward_shapes_are_read(
    port_body: bytes, first: int | None, every: tuple[int, ...]
) -> None:
    def answer(path: str) -> tuple[int, bytes]:
        return 200, b'{"status": "running"}' if path == "/v1/vpn/status" else port_body

    probes = HttpProbes()
    try:
        async with http_server(answer) as port:
            report = await probes.vpn_report("127.0.0.1", port, "key", port_forwarding=True)
    finally:
        await probes.close()
    assert (report.forwarded_port, report.forwarded_ports) == (first, every)


async def test_a_well_formed_control_server_is_read() -> None:
    def answer(path: str) -> tuple[int, bytes]:
        return 200, b'{"status": "running"}' if path == "/v1/vpn/status" else b'{"port": 5914}'

    probes = HttpProbes()
    try:
        async with http_server(answer) as port:
            report = await probes.vpn_report("127.0.0.1", port, "key", port_forwarding=True)
    finally:
        await probes.close()
    assert (report.status, report.forwarded_port) == ("running", 5914)


async def test_healthy_engines_answer_while_more_than_a_pool_of_engines_hang() -> None:
    accepted: list[asyncio.StreamWriter] = []
    held = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accept, never answer
        if len(accepted) == 100:
            held.set()

    # 50 hung engines, each asked 4 times at once (as many as one engine is asked on at once).
    hung = [await asyncio.start_server(hang, "127.0.0.1", 0) for _ in range(50)]
    hung_ports = [server.sockets[0].getsockname()[1] for server in hung]
    probes = HttpProbes(timeout_s=0.5)
    try:
        async with http_server(lambda path: (200, b'{"result": {"version": "3.2"}}')) as healthy:
            hanging = [
                asyncio.ensure_future(probes.engine_answers("127.0.0.1", port)) for port in hung_ports * 4
            ]
            await held.wait()  # 100 connections held: httpx's default pool is now full
            answers = await asyncio.gather(*(probes.engine_answers("127.0.0.1", healthy) for _ in range(3)))
            assert answers == [True, True, True]
            assert not any(await asyncio.gather(*hanging))
    finally:
        await probes.close()
        for writer in accepted:
            writer.close()
        for server in hung:
            server.close()
