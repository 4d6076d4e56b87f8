"""Liveness, the orchestrator status proxies poll (no key, from memory), metrics and scaling."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from prometheus_client import CONTENT_TYPE_LATEST

from supervisor.api.auth import API_KEY, require_api_key
from supervisor.api.deps import SupervisorDependency
from supervisor.api.errors import documented
from supervisor.api.read_cache import NOT_MODIFIED, VALIDATOR, read_answers
from supervisor.api.schemas import Scaled
from supervisor.api.status_view import OrchestratorStatus
from supervisor.core.offer import EnginePhase, phase
from supervisor.errors import InvalidInput
from supervisor.metrics import StackFacts
from supervisor.service import Supervisor


class StatusController(Controller):
    tags = ("status",)

    @get("/health")
    async def health(self) -> dict[str, str]:
        """Liveness (the compose healthcheck)."""
        return {"status": "ok"}

    @get("/orchestrator/status", responses=NOT_MODIFIED, response_headers=VALIDATOR)
    async def status(self, request: Request[Any, Any, Any]) -> Response[OrchestratorStatus]:
        """The stack at a glance, from memory; what acexy polls (without a key) before provisioning.

        Built once per change of the state (and at least every 0.5 s, for what time changes); with the
        answer's ETag in If-None-Match, a 304 while nothing changed."""
        return read_answers(request).status().respond(request.scope)

    @get("/metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, supervisor: SupervisorDependency) -> Response[bytes]:
        """Prometheus text; gauges are refreshed from memory (no Docker call)."""
        state = supervisor.state
        engines = [(engine.health_status, engine.slot.vpn or "host") for engine in state.engines.values()]
        pool = {vpn or "host": (state.pool.used(vpn), state.pool.size(vpn)) for vpn in state.pool.vpns}
        supervisor.metrics.refresh_stack(stack_facts(supervisor))
        standby = {vpn or "host": state.standbys_on(vpn) for vpn in state.pool.vpns}
        sizes = [
            (engine.container_name, engine.slot.vpn or "host", engine.cache_size_bytes)
            for engine in state.engines.values()
            if engine.cache_size_bytes is not None
        ]
        cache = (sizes, supervisor.config.stack.engine.cache.limit)
        body = supervisor.metrics.render(
            engines, state.active_streams(), pool, state.streams_over_limit(), standby, cache
        )
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @post(
        "/scale/{n:int}",
        status_code=200,
        guards=[require_api_key],
        security=API_KEY,
        responses=documented(400, 401, 403, 404),  # 404: an n that is not an integer names no route
    )
    async def scale(self, supervisor: SupervisorDependency, n: FromPath[int]) -> Scaled:
        """Set the desired engine count (within min and max); autoscale converges on it in the background."""
        replicas = supervisor.config.stack.replicas
        if not replicas.min <= n <= replicas.max:
            raise InvalidInput("n", f"{n} is outside the stack's replicas, {replicas.min}..{replicas.max}")
        supervisor.state.scale_target = n
        supervisor.scale_soon()
        return Scaled(n, len(supervisor.state.engines), replicas.min, replicas.max)


def stack_facts(supervisor: Supervisor) -> StackFacts:
    """What the operator gauges show, from memory (no Docker call)."""
    state = supervisor.state
    phases = [
        (phase(state.withdrawal(engine), ready=engine.ready), engine.slot.vpn or "host")
        for engine in state.engines.values()
    ]
    phases += [(EnginePhase.standby, standby.slot.vpn or "host") for standby in state.standbys.values()]
    refusal = supervisor.blocked()
    return StackFacts(
        phases=phases,
        vpns={
            key: (vpn.connected, vpn.forwarded_port if vpn.connected else None)
            for key, vpn in state.vpns.items()
            if key is not None
        },
        breaker=state.breaker.state,
        breaker_failures=state.breaker.failures,
        docker_reachable=state.docker_unreachable_since is None,
        blocked=refusal.code if refusal else None,
    )
