"""The dashboard's routes: `/` (a redirect), `/dashboard` (the page), `/dashboard/static/*` (its script
and style), `/dashboard/state` (its snapshot, JSON) and `/events/stream` (its live feed, server-sent events).

The page, its files and the redirect hold no data and need no key: a browser cannot send a header when
it opens a page. What the page shows comes from the snapshot and the feed, which need the key unless
ACE_SUPERVISOR_DASHBOARD_READ_ONLY is on. The page, its files and the feed are left out of the OpenAPI
document on purpose: they are not JSON, and an endless stream is nothing a schema checker can judge
(docs/API.md describes the feed). The snapshot is in it, typed like every JSON route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromQuery, HeaderParameter
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, ServerSentEvent, Template
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from supervisor.api.auth import API_KEY, require_key_for_views
from supervisor.api.deps import SupervisorDependency
from supervisor.api.errors import documented
from supervisor.core.events import EventType
from supervisor.dashboard.feed import live_feed
from supervisor.dashboard.view import DashboardState, dashboard_state

HERE = Path(__file__).parent
PAGE = "/dashboard"
STATIC = f"{PAGE}/static"
TEMPLATES = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)
STATIC_FILES = create_static_files_router(
    path=STATIC,
    directories=[HERE / "static"],
    include_in_schema=False,
    cache_control=CacheControlHeader(no_cache=True),  # ask again (a 304 when unchanged): a new version shows
)
# The page runs only its own files: no inline script, nothing from another origin.
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


class DashboardController(Controller):
    tags = ("dashboard",)

    @get("/", include_in_schema=False)
    async def root(self) -> Redirect:
        return Redirect(PAGE)

    @get(PAGE, include_in_schema=False, media_type=MediaType.HTML)
    async def page(self, supervisor: SupervisorDependency) -> Template:
        stack = supervisor.config.stack
        context = {
            "stack": stack.stack,
            "mode": stack.mode.value,
            "static": STATIC,
            "read_only": supervisor.config.env.dashboard_read_only,
            "key_needed": supervisor.config.api_key is not None,
            "event_types": [kind.value for kind in EventType],
            "min_replicas": stack.replicas.min,
            "max_replicas": stack.replicas.max,
        }
        return Template("dashboard.html.j2", context=context, headers=PAGE_HEADERS)

    @get(
        f"{PAGE}/state",
        guards=[require_key_for_views],
        security=API_KEY,
        responses=documented(400, 401, 403),
    )
    async def state(
        self,
        supervisor: SupervisorDependency,
        event_type: FromQuery[EventType | None] = None,
        event_engine: FromQuery[str | None] = None,
    ) -> DashboardState:
        """Everything the dashboard shows, from one moment: the status, health and VPN answers, every
        engine, the active streams with their newest stats, and the newest events (of `event_type`, of
        `event_engine`: an id, its 12-character prefix, or a name). Needs the key unless the dashboard
        is read-only (ACE_SUPERVISOR_DASHBOARD_READ_ONLY)."""
        return dashboard_state(supervisor, event_type, event_engine)

    @get("/events/stream", guards=[require_key_for_views], include_in_schema=False)
    async def stream(
        self,
        request: Request[Any, Any, Any],
        supervisor: SupervisorDependency,
        last_event_id: Annotated[int | None, HeaderParameter(name="last-event-id", ge=0)] = None,
    ) -> ServerSentEvent:
        """The event log as it grows, and the state's version as it moves (supervisor/dashboard/feed.py)."""
        state = request.app.state
        feed = live_feed(supervisor, last_event_id, lambda: bool(state.get("closing")))
        return ServerSentEvent(feed, headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
