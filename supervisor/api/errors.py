"""The one place domain errors become HTTP answers, always `{"detail": ...}` (the shape proxies parse)."""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from supervisor.core.capacity import ProvisioningBlocked
from supervisor.errors import InvalidInput, NotFound, PortTaken, ProvisionFailed, SupervisorError
from supervisor.runtime.base import RuntimeFailure

log = logging.getLogger("supervisor.api")

Req = Request[object, object, State]


def _json(status: int, body: object) -> Response[object]:
    return Response(body, status_code=status, media_type=MediaType.JSON)


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
    messages = "; ".join(
        str(problem.get("message", problem)) for problem in problems if isinstance(problem, dict)
    )
    detail = f"invalid request: {messages}" if messages else f"invalid request: {error.detail}"
    return _json(400, {"detail": detail, "errors": problems})


def http(_: Req, error: HTTPException) -> Response[object]:
    return _json(error.status_code, {"detail": error.detail})


def unexpected(request: Req, error: Exception) -> Response[object]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _json(500, {"detail": f"internal error ({type(error).__name__}); see the supervisor's log"})


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ProvisioningBlocked: blocked,
    SupervisorError: domain,
    RuntimeFailure: runtime,
    ValidationException: validation,
    HTTPException: http,
    Exception: unexpected,
}
