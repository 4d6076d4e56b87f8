"""The kinds of decision the supervisor logs as events (stored in SQLite, served at GET /events)."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    engine_created = "engine_created"
    engine_adopted = "engine_adopted"
    engine_removed = "engine_removed"  # with the reason: idle, unhealthy, rolled back, gone, by the API...
    standby_created = "standby_created"  # created, not started: the next cold provision starts it
    standby_removed = "standby_removed"  # stale (settings, image, VPN namespace) or beyond replicas.standby
    engine_reused = "engine_reused"  # a provision got a ready, unclaimed engine instead of a new one
    engine_stopped = "engine_stopped"  # Docker reported it not running: withdrawn at once
    engine_started = "engine_started"  # Docker reported it running again (its restart policy)
    engine_draining = "engine_draining"  # takes no new viewers; removed once idle
    orphan_removed = "orphan_removed"  # a labelled container this supervisor did not hold
    vpn_restarted = "vpn_restarted"  # down past its restart timeout
    failover = "failover"  # a VPN went down while another is connected: its engines drain
    port_quarantined = "port_quarantined"
    vpn_down = "vpn_down"
    vpn_up = "vpn_up"
    breaker_opened = "breaker_opened"
    breaker_closed = "breaker_closed"
    breaker_reset = "breaker_reset"  # an operator closed it (POST /health/circuit-breaker/reset)
    stream_stopped = "stream_stopped"  # an operator stopped it (POST /streams/{id}/stop)
    stream_started = "stream_started"
    stream_ended = "stream_ended"
    stream_stale = "stream_stale"  # its engine no longer knows the session: ended with reason stale
    forwarded_port_changed = "forwarded_port_changed"
    image_updated = "image_updated"  # a pull brought a new engine image id: older engines drain
    database_rewritten = "database_rewritten"  # its file was deleted or replaced; written again from memory


# Events kept in SQLite; older ones are dropped as new ones arrive.
EVENT_RETENTION = 10_000
