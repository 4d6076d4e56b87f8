"""create_app(): the Litestar application and the lifespan that owns the supervisor's background work.

The lifespan attaches and reconciles before the first request is served, and on shutdown stops the loops
but leaves every engine running.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import State

from supervisor.api.acquire import AcquireController
from supervisor.api.allow import allow_middleware
from supervisor.api.deps import DEPENDENCIES
from supervisor.api.engines import EngineController
from supervisor.api.errors import EXCEPTION_HANDLERS
from supervisor.api.events import EventController
from supervisor.api.openapi import openapi_config
from supervisor.api.operator import OperatorController
from supervisor.api.request_body import MAX_BODY_BYTES, BoundedRequest
from supervisor.api.status import StatusController
from supervisor.api.streams import StreamController
from supervisor.api.timing import timing_middleware
from supervisor.core.clock import Clock
from supervisor.dashboard.routes import STATIC_FILES, TEMPLATES, DashboardController
from supervisor.probes import Probes
from supervisor.runtime.base import Runtime
from supervisor.service import Supervisor
from supervisor.settings import Config

log = logging.getLogger("supervisor")


def create_app(
    config: Config,
    runtime: Runtime | None = None,
    *,
    clock: Clock | None = None,
    probes: Probes | None = None,
    loops: bool = True,
) -> Litestar:
    if runtime is None:
        from supervisor.runtime.docker_runtime import DockerRuntime

        runtime = DockerRuntime(config.env.docker_host, workers=max(8, config.env.max_in_flight * 2))
    supervisor = Supervisor(config, runtime, clock, probes)
    if config.api_key is None:
        log.warning(
            "INSECURE: serving without an API key (ACE_SUPERVISOR_INSECURE_NO_AUTH); anyone can start engines"
        )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.closing = False
        await supervisor.start(loops=loops)
        try:
            yield
        finally:
            app.state.closing = True  # live feeds (GET /events/stream) end
            await supervisor.stop()

    async def after_change(request: Request[Any, Any, Any]) -> None:
        """Every API change (a provision, a removal, a stream event, a scale) is followed by a pass."""
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            supervisor.reconciler.kick()

    return Litestar(
        after_response=after_change,
        route_handlers=[
            AcquireController,
            EngineController,
            StreamController,
            StatusController,
            EventController,
            OperatorController,
            DashboardController,
            STATIC_FILES,
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        state=State({"supervisor": supervisor}),
        middleware=[timing_middleware(supervisor.metrics), allow_middleware],
        openapi_config=openapi_config(config),
        template_config=TEMPLATES,
        request_class=BoundedRequest,
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,
        debug=False,
    )
