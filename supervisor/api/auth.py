"""API-key auth for state-changing routes: `Authorization: Bearer KEY` or `X-API-KEY: KEY`.

Compared in constant time; 401 without a key, 403 with a wrong one. The key is never logged.
"""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import SecurityRequirement, SecurityScheme

Connection = ASGIConnection[BaseRouteHandler, object, object, State]

# The two ways to present the key, as the OpenAPI document names them.
SECURITY_SCHEMES = {
    "bearer": SecurityScheme(type="http", scheme="bearer"),
    "apiKey": SecurityScheme(type="apiKey", name="X-API-KEY", security_scheme_in="header"),
}
# What a keyed route declares beside its guard (`guards=[require_api_key], security=API_KEY`): either one.
API_KEY: list[SecurityRequirement] = [{scheme: []} for scheme in SECURITY_SCHEMES]


def presented_key(connection: Connection) -> str | None:
    authorization = connection.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.headers.get("x-api-key") or None


def require_api_key(connection: Connection, _: BaseRouteHandler) -> None:
    expected: str | None = connection.app.state.supervisor.config.api_key
    if expected is None:  # started with the explicit insecure flag
        return
    key = presented_key(connection)
    if key is None:
        raise NotAuthorizedException(
            "this route needs the API key: send 'Authorization: Bearer <key>' or 'X-API-KEY: <key>'"
        )
    if not hmac.compare_digest(key.encode(), expected.encode()):
        raise PermissionDeniedException("the API key is wrong")


def require_key_for_views(connection: Connection, handler: BaseRouteHandler) -> None:
    """The dashboard's views (its snapshot and live feed) need the key too, unless the operator opened
    them with ACE_SUPERVISOR_DASHBOARD_READ_ONLY. Its actions are the API's keyed routes either way."""
    if connection.app.state.supervisor.config.env.dashboard_read_only:
        return
    require_api_key(connection, handler)
