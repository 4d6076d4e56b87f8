"""ASGI middleware recording API request durations by method, route template and status."""

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

            async def record_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, record_status)
            finally:
                route = scope.get("path_template") or "unmatched"
                method = str(scope.get("method", "?"))
                metrics.request_duration.labels(method, route, str(status)).observe(
                    time.perf_counter() - started
                )

        return middleware

    return factory
