"""HTTP probes of engines (supervisor/http_get.py: kept-alive connections, a few per engine, for the
health probe, the stat URLs and the stop command alike) and gluetun control servers (httpx), behind
protocols the loops depend on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import httpx

from supervisor.core.stream_check import StreamStat, read_stat_answer, stop_confirmed
from supervisor.http_get import PER_ADDRESS, KeepAliveClient, Reply

ENGINE_VERSION_PATH = "/webui/api/service?method=get_version"
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class VpnReport:
    status: str  # gluetun's word: starting, running, stopping, stopped, crashed, completed
    forwarded_port: int | None  # the first forwarded port: the one an engine takes as its P2P port
    forwarded_ports: tuple[int, ...] = ()  # every forwarded port (ProtonVPN forwards up to 5)
    public_ip: str | None = None  # gluetun's /v1/publicip/ip while the tunnel runs


def forwarded_ports(body: dict[str, Any]) -> tuple[int, ...]:
    """gluetun's /v1/portforward: `{"port": N}` (0 when none), or `{"ports": [N, ...]}` when it forwards
    several (v3.41.1 then sends no "port"). Anything else is not gluetun's shape: ValueError."""
    if "ports" in body:
        ports = body["ports"]
        if not isinstance(ports, list) or not all(_is_port(p) or p == 0 for p in ports):
            raise ValueError(f"/v1/portforward ports is {str(ports)[:80]!r}, not a list of ports")
        return tuple(p for p in ports if p)
    port = body.get("port", 0)
    if not (_is_port(port) or port == 0):
        raise ValueError(f"/v1/portforward port is {str(port)[:80]!r}, not a port")
    return (port,) if port else ()


def _is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


class Probes(Protocol):
    async def engine_answers(self, host: str, port: int) -> bool: ...

    async def vpn_report(self, host: str, port: int, api_key: str, port_forwarding: bool) -> VpnReport:
        """Raises ProbeFailure when the control server cannot be read."""
        ...

    async def stream_stat(self, url: str) -> StreamStat | None:
        """A session's stat_url: its statistics, or None when the engine says the session is gone.
        Raises ProbeFailure when there is no verdict (not reachable, timed out, out of shape)."""
        ...

    async def stop_stream(self, url: str) -> bool:
        """Ask the engine to stop a session (its command_url, method=stop); True when it confirmed."""
        ...

    async def close(self) -> None: ...


class ProbeFailure(Exception):
    pass


class HttpProbes:
    def __init__(self, timeout_s: float = PROBE_TIMEOUT_S, per_engine: int = PER_ADDRESS) -> None:
        # No cap on connections: a request queued behind httpx's default 100 would spend its timeout
        # waiting for a connection.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
        self._client = httpx.AsyncClient(timeout=timeout_s, limits=limits)
        # Engines are asked get_version hundreds of times a pass, and the stat URL of every stream they
        # serve: a few kept connections per engine, not httpx.
        self._engines = KeepAliveClient(timeout_s, per_address=per_engine)

    async def engine_answers(self, host: str, port: int) -> bool:
        return await self._engines.status(host, port, ENGINE_VERSION_PATH) == 200

    async def vpn_report(self, host: str, port: int, api_key: str, port_forwarding: bool) -> VpnReport:
        headers = {"X-API-Key": api_key}
        base = f"http://{host}:{port}"
        try:
            status = await self._client.get(f"{base}/v1/vpn/status", headers=headers)
            status.raise_for_status()
            forwarded: tuple[int, ...] = ()
            if port_forwarding:
                answer = await self._client.get(f"{base}/v1/portforward", headers=headers)
                if answer.status_code == 200:
                    forwarded = forwarded_ports(_json_object(answer))
            state = str(_json_object(status).get("status", "unknown"))
            public_ip = await self._public_ip(base, headers) if state == "running" else None
            return VpnReport(state, forwarded[0] if forwarded else None, forwarded, public_ip)
        except (httpx.HTTPError, ValueError, TypeError) as error:  # any answer not in gluetun's shape
            raise ProbeFailure(f"control server {base}: {error}") from None

    async def _public_ip(self, base: str, headers: dict[str, str]) -> str | None:
        """The tunnel's public address; None when gluetun does not know it (yet): not a VPN failure."""
        try:
            answer = await self._client.get(f"{base}/v1/publicip/ip", headers=headers)
            address = _json_object(answer).get("public_ip") if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return address if isinstance(address, str) and address else None

    async def stop_stream(self, url: str) -> bool:
        """A session's command_url with method=stop; True when the engine confirmed it."""
        reply = await self._engine_get(url, {"method": "stop"})
        return reply is not None and stop_confirmed(*reply)

    async def stream_stat(self, url: str) -> StreamStat | None:
        reply = await self._engine_get(url)
        if reply is None:
            raise ProbeFailure(f"stat {url}: no answer (no connection, or none in time)")
        try:
            return read_stat_answer(*reply)
        except ValueError as error:
            raise ProbeFailure(f"stat {url}: {error}") from None

    async def _engine_get(self, url: str, query: dict[str, str] | None = None) -> Reply | None:
        """GET an engine URL (http://host:port/path?query) on a kept connection; None when it cannot be
        asked (not an http URL, no connection, no answer in time)."""
        parts = urlsplit(url)
        try:
            port = parts.port or 80
        except ValueError:
            return None
        if parts.scheme != "http" or not parts.hostname:
            return None
        target = parts.path or "/"
        extra = urlencode(query or {})
        if parts.query or extra:
            target += "?" + "&".join(part for part in (parts.query, extra) if part)
        return await self._engines.get(parts.hostname, port, target)

    async def close(self) -> None:
        self._engines.close()
        await self._client.aclose()


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"{response.url.path} answered {response.text[:80]!r}, not a JSON object")
    return body
