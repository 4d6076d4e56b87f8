"""ASGI middleware recording API request durations by method, route template and status.

A server-sent event stream (GET /events/stream) is timed until its answer starts: the rest is how long a
page stayed open, no latency, and would swamp the histogram's upper buckets."""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Middleware, Receive, Scope, Send

from supervisor.metrics import Metrics


def timing_middleware(metrics: Metrics) -> Middleware:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500
            recorded = False

            def record() -> None:
                nonlocal recorded
                if not recorded:
                    recorded = True
                    route = scope.get("path_template") or "unmatched"
                    method = str(scope.get("method", "?"))
                    metrics.request_duration.labels(method, route, str(status)).observe(
                        time.perf_counter() - started
                    )

            async def record_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    if _is_event_stream(message):
                        record()
                await send(message)

            try:
                await app(scope, receive, record_status)
            finally:
                record()

        return middleware

    return factory


def _is_event_stream(start: Message) -> bool:
    headers: list[tuple[bytes, bytes]] = list(start.get("headers", ()))  # type: ignore[call-overload]
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/event-stream") for name, value in headers
    )
