"""The event log: each decision the supervisor took and why, newest first (GET /events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import FromQuery, Parameter

from supervisor.api.deps import SupervisorDependency
from supervisor.core.events import EventType

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class EventOut(msgspec.Struct):
    id: int
    at: datetime
    type: EventType
    engine_id: str | None
    engine_name: str | None
    message: str


class EventController(Controller):
    tags = ("events",)

    @get("/events")
    async def list_events(
        self,
        supervisor: SupervisorDependency,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        since: FromQuery[datetime | None] = None,
        type: FromQuery[EventType | None] = None,
        engine: FromQuery[str | None] = None,
    ) -> list[EventOut]:
        """Newest first, at most `limit` (default 100, at most 1000); `since` a time, `type` an event type,
        `engine` a container id (or its 12-character prefix) or name. Kept: the newest 10,000."""
        events = supervisor.store.events(limit, since, type, engine)
        return [EventOut(e.id, e.at, e.type, e.engine_id, e.engine_name, e.message) for e in events]
