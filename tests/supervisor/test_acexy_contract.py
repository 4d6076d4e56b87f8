"""The API contract acexy decodes strictly: field names and JSON types, checked by strict client models.

One wrong type (a timestamp without timezone, a port as a string, is_live as 1) makes acexy drop the whole
answer, so these models refuse anything but the exact types: a failure here is a broken proxy in the field.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from pydantic import AwareDatetime, BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, TypeAdapter

pytestmark = pytest.mark.anyio


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class EngineJson(Strict):
    container_id: StrictStr
    container_name: StrictStr
    host: StrictStr
    port: StrictInt
    labels: dict[StrictStr, StrictStr]
    forwarded: StrictBool
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    health_status: Literal["healthy", "unhealthy", "unknown"]
    last_health_check: AwareDatetime | None
    last_stream_usage: AwareDatetime | None
    last_cache_cleanup: AwareDatetime | None
    cache_size_bytes: StrictInt | None
    streams: list[StrictStr]
    vpn_container: StrictStr | None


class StreamJson(Strict):
    id: StrictStr
    key_type: Literal["content_id", "infohash", "url", "magnet"]
    key: StrictStr
    container_id: StrictStr
    playback_session_id: StrictStr
    stat_url: StrictStr
    command_url: StrictStr
    is_live: StrictBool
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    status: Literal["started", "ended"]


class ProvisionJson(Strict):
    container_id: StrictStr
    container_name: StrictStr
    host_http_port: StrictInt
    container_http_port: StrictInt
    container_https_port: StrictInt


class BlockedDetail(Strict):
    error: Literal["provisioning_blocked"]
    code: Literal["max_capacity", "vpn_disconnected", "circuit_breaker", "docker_unreachable"]
    message: StrictStr
    recovery_eta_seconds: StrictInt
    can_retry: StrictBool
    should_wait: StrictBool


class Blocked(Strict):
    detail: BlockedDetail


class StatusJson(Strict):
    class Engines(Strict):
        total: StrictInt
        running: StrictInt
        healthy: StrictInt
        unhealthy: StrictInt

    class Streams(Strict):
        active: StrictInt
        total: StrictInt

    class Capacity(Strict):
        total: StrictInt
        used: StrictInt
        available: StrictInt
        max_replicas: StrictInt
        min_replicas: StrictInt

    class Vpn(Strict):
        enabled: StrictBool
        connected: StrictBool
        health: StrictStr
        container: StrictStr | None
        forwarded_port: StrictInt | None

    class Provisioning(Strict):
        can_provision: StrictBool
        circuit_breaker_state: Literal["closed", "open", "half_open"]
        last_failure: StrictStr | None
        blocked_reason: Literal["max_capacity", "vpn_disconnected", "circuit_breaker"] | None
        blocked_reason_details: BlockedDetail | None

    status: Literal["healthy", "degraded", "unavailable"]
    engines: Engines
    streams: Streams
    capacity: Capacity
    vpn: Vpn
    provisioning: Provisioning
    timestamp: AwareDatetime


def decode(model: Any, content: bytes) -> Any:
    return TypeAdapter(model).validate_json(content, strict=True)


async def test_every_route_acexy_reads_decodes_with_strict_types(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("single", max_replicas=2) as client:
        status = decode(StatusJson, (await client.get("/orchestrator/status")).content)
        assert status.provisioning.can_provision and status.vpn.forwarded_port == 5914
        provisioned = [
            decode(ProvisionJson, (await client.post("/provision/acestream", json={}, headers=auth)).content)
            for _ in range(2)
        ]
        await client.app.state.supervisor.readiness.tick()
        event = {
            "container_id": "acexy",
            "engine": {"host": "localhost", "port": provisioned[0].host_http_port},
            "stream": {"key_type": "content_id", "key": "k"},
            "session": {"playback_session_id": "s", "stat_url": "u", "command_url": "c", "is_live": 1},
            "labels": {"stream_id": "k|s"},
        }
        decode(StreamJson, (await client.post("/events/stream_started", json=event, headers=auth)).content)
        engines = decode(list[EngineJson], (await client.get("/engines")).content)
        assert len(engines) == 2 and all(engine.health_status == "healthy" for engine in engines)
        query = {"status": "started", "container_id": provisioned[0].container_id}
        streams = decode(list[StreamJson], (await client.get("/streams", params=query)).content)
        assert [stream.id for stream in streams] == ["k|s"] and streams[0].is_live is True
        refused = await client.post("/provision/acestream", headers=auth)
        assert refused.status_code == 503
        assert decode(Blocked, refused.content).detail.code == "max_capacity"
        status = decode(StatusJson, (await client.get("/orchestrator/status")).content)
        assert status.provisioning.blocked_reason == "max_capacity"
        assert status.provisioning.blocked_reason_details is not None
        ended = await client.post(
            "/events/stream_ended", json={"stream_id": "k|s", "reason": "eof"}, headers=auth
        )
        decode(list[StreamJson], ended.content)


def test_the_strict_models_reject_what_acexy_rejects() -> None:
    good = {
        "id": "k|s",
        "key_type": "content_id",
        "key": "k",
        "container_id": "c",
        "playback_session_id": "s",
        "stat_url": "u",
        "command_url": "c",
        "is_live": True,
        "started_at": "2026-01-01T00:00:00+00:00",
        "ended_at": None,
        "status": "started",
    }
    decode(StreamJson, json.dumps(good).encode())
    for wrong in ({"is_live": 1}, {"started_at": "2026-01-01T00:00:00"}, {"key": 5}):
        with pytest.raises(ValueError):
            decode(StreamJson, json.dumps(good | wrong).encode())
