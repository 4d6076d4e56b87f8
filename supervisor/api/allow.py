"""OPTIONS answers list every method of the path in `Allow`.

Litestar 2 answers OPTIONS from the first handler registered on a path, so `/engines/{id}` (GET and
DELETE) was answered `Allow: DELETE, OPTIONS` (litestar#4169, fixed only in Litestar 3). Its 405 answers
are right; this writes the same set into OPTIONS answers, from the routes the app serves.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def allow_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        allow = _allowed(scope["litestar_app"], scope["path_template"])

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message["headers"] if name.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow)]}
            await send(message)

        await app(scope, receive, send_allow)

    return middleware


def _allowed(app: Litestar, path_template: str) -> bytes:
    methods = {
        method
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path_format == path_template
        for method in route.methods
    }
    return ", ".join(sorted(methods)).encode()
