"""The kinds of decision the supervisor logs as events (stored in SQLite, served at GET /events)."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    engine_created = "engine_created"
    engine_adopted = "engine_adopted"
    engine_removed = "engine_removed"  # with the reason: idle, unhealthy, rolled back, gone, by the API...
    port_quarantined = "port_quarantined"
    vpn_down = "vpn_down"
    vpn_up = "vpn_up"
    breaker_opened = "breaker_opened"
    breaker_closed = "breaker_closed"
    stream_started = "stream_started"
    stream_ended = "stream_ended"
    forwarded_port_changed = "forwarded_port_changed"
    database_rewritten = "database_rewritten"  # its file was deleted or replaced; written again from memory


# Events kept in SQLite; older ones are dropped as new ones arrive.
EVENT_RETENTION = 10_000
