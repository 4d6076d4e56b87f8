"""The event log: each decision the supervisor took and why, newest first (GET /events)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, Parameter

from supervisor.api.deps import SupervisorDependency
from supervisor.api.errors import documented
from supervisor.api.schemas import QueryTime, query_time
from supervisor.core.events import EventType
from supervisor.store import Event

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class EventController(Controller):
    tags = ("events",)

    @get("/events", responses=documented(400))
    async def list_events(
        self,
        supervisor: SupervisorDependency,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        since: FromQuery[QueryTime] = None,
        type: FromQuery[EventType | None] = None,
        engine: FromQuery[str | None] = None,
    ) -> list[Event]:
        """Newest first, at most `limit` (default 100, at most 1000); `since` a time, `type` an event type,
        `engine` a container id (or its 12-character prefix) or name. Kept: the newest 10,000."""
        return supervisor.store.events(limit, query_time("since", since), type, engine)
