"""Engines: provision, list, show, delete."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from supervisor.api.auth import API_KEY, require_api_key
from supervisor.api.deps import SupervisorDependency
from supervisor.api.errors import documented
from supervisor.api.read_cache import NOT_MODIFIED, VALIDATOR, read_answers
from supervisor.api.schemas import (
    EngineDetail,
    EngineOut,
    ProvisionBody,
    Provisioned,
    Removed,
    engine_out,
    stream_out,
)
from supervisor.core.records import StreamStatus
from supervisor.errors import NotFound, ProvisionFailed
from supervisor.provisioning import ProvisionRequest


class EngineController(Controller):
    tags = ("engines",)

    @post(
        "/provision/acestream",
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(400, 401, 403, 409, 413, 503),
    )
    async def provision(
        self,
        supervisor: SupervisorDependency,
        data: JSONBody[ProvisionBody | None] = None,
        wait: FromQuery[Literal["ready"] | None] = None,
    ) -> Provisioned:
        """Start one engine of the profile's image; answers once the container runs with its ports held.

        200 (not 201: proxies treat anything else as failure). Refusals: 503 with a structured detail."""
        body = data or ProvisionBody()
        engine = await supervisor.provisioner.acquire(ProvisionRequest(body.labels, body.env, body.host_port))
        if wait == "ready" and not await supervisor.readiness.wait(engine):
            timeout = supervisor.config.stack.timings.startup_timeout_s
            raise ProvisionFailed(
                f"engine {engine.container_name} did not answer within {timeout:g}s; it was removed"
            )
        return Provisioned(
            container_id=engine.container_id,
            container_name=engine.container_name,
            host_http_port=engine.host_http_port,
            container_http_port=engine.slot.http,
            container_https_port=engine.slot.https,
        )

    @get("/engines", responses={**NOT_MODIFIED, **documented(400)}, response_headers=VALIDATOR)
    async def list_engines(
        self, request: Request[Any, Any, Any], all: FromQuery[bool] = False
    ) -> Response[list[EngineOut]]:
        """The engines a proxy may use, as a bare array (served from memory): an engine whose container is
        not running, whose VPN is down or lost, or which is unhealthy is withdrawn at once. `?all=true`
        lists every engine with the reason it is withdrawn, for operators.

        Encoded once per change of the state; with the answer's ETag in If-None-Match, a 304 while nothing
        changed."""
        return read_answers(request).engines(all).respond(request.scope)

    @get("/engines/{engine_id:str}", responses=documented(400, 404))
    async def show_engine(self, supervisor: SupervisorDependency, engine_id: FromPath[str]) -> EngineDetail:
        engine = supervisor.state.find_engine(engine_id)
        if engine is None:
            raise NotFound(f"no engine {engine_id!r} in this stack; GET /engines lists them")
        streams = supervisor.store.streams(StreamStatus.started, engine.container_id)
        return EngineDetail(engine_out(supervisor.state, engine), [stream_out(stream) for stream in streams])

    @delete(
        ["/engines/{engine_id:str}", "/containers/{engine_id:str}"],
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(400, 401, 403, 404, 503),
    )
    async def delete_engine(self, supervisor: SupervisorDependency, engine_id: FromPath[str]) -> Removed:
        """Stop and remove an engine and free its port; its streams end (`/containers/{id}` is an alias)."""
        removed = await supervisor.provisioner.remove(engine_id, "removed through the API")
        return Removed(removed.container_id, removed.container_name)
