"""The one place domain errors become HTTP answers, always `{"detail": ...}` (the shape proxies parse), and
the one place their bodies are documented: a route lists the statuses it can answer with `documented()`.
"""

from __future__ import annotations

import logging

import msgspec
from litestar import MediaType, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from supervisor.api.request_body import MAX_BODY_BYTES
from supervisor.api.status_view import BlockedDetail
from supervisor.core.capacity import ProvisioningBlocked
from supervisor.errors import InvalidInput, NotFound, PortTaken, ProvisionFailed, SupervisorError
from supervisor.runtime.base import RuntimeFailure

log = logging.getLogger("supervisor.api")

Req = Request[object, object, State]


class Problem(msgspec.Struct):
    """One failed type check: what was expected, and where (`key`, in `source`: body, query, path)."""

    message: str
    key: str | msgspec.UnsetType = msgspec.UNSET
    source: str | msgspec.UnsetType = msgspec.UNSET


class InvalidRequest(msgspec.Struct):
    """400: `detail` names the field. A type check lists its `errors`; a check of the supervisor's own
    (a label it sets, a variable the stack does not allow, a port outside its ranges) names the `field`."""

    detail: str
    errors: list[Problem] | msgspec.UnsetType = msgspec.UNSET
    field: str | msgspec.UnsetType = msgspec.UNSET


class Detail(msgspec.Struct):
    detail: str


class Refused(msgspec.Struct):
    """503: a provisioning refusal (its structured detail), or Docker failing (a message)."""

    detail: BlockedDetail | str


_RESPONSES = {
    400: ResponseSpec(
        InvalidRequest,
        description="Malformed or too deeply nested JSON, a wrong type, a value out of range, a map over "
        "its limit, or what this stack does not allow; `detail` names the field",
    ),
    401: ResponseSpec(
        Detail, description="No API key: send 'Authorization: Bearer <key>' or 'X-API-KEY: <key>'"
    ),
    403: ResponseSpec(Detail, description="The API key is wrong"),
    404: ResponseSpec(Detail, description="No such engine or stream (the detail names it), or no such path"),
    409: ResponseSpec(Detail, description="The requested host_port is already used"),
    413: ResponseSpec(Detail, description=f"The request body is over {MAX_BODY_BYTES} bytes"),
    503: ResponseSpec(
        Refused,
        description="Provisioning refused (detail: error, code, message, recovery_eta_seconds, can_retry, "
        "should_wait), or Docker failed to start or remove the engine (detail: a message)",
    ),
}


def documented(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers a route can give, for its `responses=` (the schema lists each with its body)."""
    return {status: _RESPONSES[status] for status in statuses}


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response[object]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def blocked(_: Req, error: ProvisioningBlocked) -> Response[object]:
    return _json(503, {"detail": error.detail()})


def domain(_: Req, error: SupervisorError) -> Response[object]:
    if isinstance(error, NotFound):
        return _json(404, {"detail": str(error)})
    if isinstance(error, InvalidInput):
        return _json(400, {"detail": str(error), "field": error.field})
    if isinstance(error, PortTaken):
        return _json(409, {"detail": str(error)})
    if isinstance(error, ProvisionFailed):
        return _json(503, {"detail": f"the engine could not be started: {error}"})
    return _json(500, {"detail": str(error)})


def runtime(_: Req, error: RuntimeFailure) -> Response[object]:
    return _json(503, {"detail": f"Docker refused: {error}; retry, or check the daemon"})


def validation(request: Req, error: ValidationException) -> Response[object]:
    problems = error.extra if isinstance(error.extra, list) else []
    messages = "; ".join(_located(problem) for problem in problems if isinstance(problem, dict))
    detail = f"invalid request: {messages}" if messages else f"invalid request: {error.detail}"
    return _json(400, {"detail": detail, "errors": problems})


def _located(problem: dict[str, object]) -> str:
    """`labels: Expected object of length <= 64`: the message with the field it is about."""
    message = str(problem.get("message", problem))
    key = problem.get("key")
    return f"{key}: {message}" if key and key != "data" else message


def too_large(_: Req, error: RequestEntityTooLarge) -> Response[object]:
    return _json(413, {"detail": f"the request body is over {MAX_BODY_BYTES} bytes; send less"})


def http(_: Req, error: HTTPException) -> Response[object]:
    """Litestar's own answers (405 with its Allow header, 401/403 from the key guard, 404 of a path)."""
    return _json(error.status_code, {"detail": error.detail}, error.headers)


def unexpected(request: Req, error: Exception) -> Response[object]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _json(500, {"detail": f"internal error ({type(error).__name__}); see the supervisor's log"})


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ProvisioningBlocked: blocked,
    SupervisorError: domain,
    RuntimeFailure: runtime,
    ValidationException: validation,
    RequestEntityTooLarge: too_large,
    HTTPException: http,
    Exception: unexpected,
}
