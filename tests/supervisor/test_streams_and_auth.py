"""Stream events as acexy sends them, auth on state-changing routes, and bad input answered with 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from acexy_events import started_event

pytestmark = pytest.mark.anyio


async def test_a_stream_is_matched_to_the_engine_by_port_and_counted(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        other = (await client.post("/provision/acestream", headers=auth)).json()
        answer = await client.post(
            "/events/stream_started", json=started_event(other["host_http_port"]), headers=auth
        )
        assert answer.status_code == 200
        stream = answer.json()
        assert stream["id"] == "abc|s1" and stream["container_id"] == other["container_id"]
        assert stream["is_live"] is True and stream["status"] == "started"
        active = (
            await client.get("/streams", params={"status": "started", "container_id": other["container_id"]})
        ).json()
        assert [item["id"] for item in active] == ["abc|s1"]
        assert (await client.get("/streams", params={"container_id": engine["container_id"]})).json() == []
        engines = {item["container_id"]: item for item in (await client.get("/engines")).json()}
        assert engines[other["container_id"]]["streams"] == ["abc|s1"]
        assert engines[other["container_id"]]["last_stream_usage"] is not None
        status = (await client.get("/orchestrator/status")).json()
        assert status["streams"] == {"active": 1, "total": 1}
        assert status["capacity"]["used"] == 1 and status["capacity"]["available"] == 1


async def test_stream_events_are_idempotent(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("standalone") as client:
        port = (await client.post("/provision/acestream", headers=auth)).json()["host_http_port"]
        event = started_event(port, labels={"stream_id": "mine"})
        first = (await client.post("/events/stream_started", json=event, headers=auth)).json()
        again = (await client.post("/events/stream_started", json=event, headers=auth)).json()
        assert first == again and first["id"] == "mine"
        ended = {"container_id": "acexy-7f3a", "stream_id": "mine", "reason": "client_disconnected"}
        for _ in range(2):
            answer = await client.post("/events/stream_ended", json=ended, headers=auth)
            assert answer.status_code == 200 and answer.json()[0]["status"] == "ended"
        assert (await client.get("/streams", params={"status": "started"})).json() == []
        finished = (await client.get("/streams", params={"status": "ended"})).json()
        assert len(finished) == 1 and finished[0]["ended_at"] is not None


async def test_unknown_engine_or_stream_is_a_404_naming_the_field(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        orphan = await client.post("/events/stream_started", json=started_event(19009), headers=auth)
        assert orphan.status_code == 404 and "engine" in orphan.json()["detail"]
        unknown = await client.post("/events/stream_ended", json={"stream_id": "nope"}, headers=auth)
        assert unknown.status_code == 404 and "stream_id" in unknown.json()["detail"]
        assert (await client.get("/engines/nope")).status_code == 404


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "JSON is malformed"),
        (
            {"engine": {"host": "localhost", "port": "x"}, "stream": {"key_type": "content_id", "key": "k"}},
            "port",
        ),
        (started_event(19000) | {"stream": {"key_type": "torrent", "key": "k"}}, "key_type"),
        ({"stream": {"key_type": "content_id", "key": "k"}}, "engine"),
    ],
)
async def test_bad_stream_events_get_a_400_naming_the_field(
    open_client: Any, auth: dict[str, str], body: Any, named: str
) -> None:
    async with open_client("standalone") as client:
        await client.post("/provision/acestream", headers=auth)
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        answer = await client.post("/events/stream_started", headers=auth, **kwargs)
        assert answer.status_code == 400
        assert named in answer.text
        assert (await client.get("/streams")).json() == []


@pytest.mark.parametrize("body", [{"labels": {"a": 1}}, {"host_port": "many"}, [1, 2]])
async def test_bad_provision_bodies_get_a_400_and_start_nothing(
    open_client: Any, auth: dict[str, str], body: Any
) -> None:
    async with open_client("standalone") as client:
        answer = await client.post("/provision/acestream", json=body, headers=auth)
        assert answer.status_code == 400
        assert (await client.get("/engines")).json() == []


async def test_state_changing_routes_need_the_key(open_client: Any, api_key: str) -> None:
    async with open_client("standalone") as client:
        routes = [
            ("POST", "/provision/acestream"),
            ("DELETE", "/engines/x"),
            ("DELETE", "/containers/x"),
            ("POST", "/events/stream_started"),
            ("POST", "/events/stream_ended"),
            ("POST", "/scale/1"),
        ]
        for method, path in routes:
            assert (await client.request(method, path)).status_code == 401, path
            wrong = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
            assert wrong.status_code == 403, path
        accepted = await client.post("/provision/acestream", headers={"X-API-KEY": api_key})
        assert accepted.status_code == 200
        for path in ("/health", "/orchestrator/status", "/engines", "/streams", "/metrics"):
            assert (await client.get(path)).status_code == 200, path


async def test_the_insecure_flag_serves_without_a_key(open_client: Any) -> None:
    async with open_client("standalone", api_key=None, env={"insecure_no_auth": True}) as client:
        assert (await client.post("/provision/acestream")).status_code == 200


async def test_metrics_and_openapi_are_served(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("redundant") as client:
        await client.post("/provision/acestream", headers=auth)
        await client.get("/engines")
        metrics = (await client.get("/metrics")).text
        for name in (
            "ace_supervisor_engines{",
            "ace_supervisor_active_streams",
            'ace_supervisor_provision_attempts_total{result="started"} 1.0',
            "ace_supervisor_provision_duration_seconds_bucket",
            'ace_supervisor_port_pool_used{vpn="gluetun"} 1.0',
            'ace_supervisor_port_pool_size{vpn="gluetun-2"} 10.0',
            'ace_supervisor_api_request_duration_seconds_count{method="GET",route="/engines",status="200"}',
        ):
            assert name in metrics, name
        schema = (await client.get("/schema/openapi.json")).json()
        paths = set(schema["paths"])
        assert {
            "/provision/acestream",
            "/engines",
            "/engines/{engine_id}",
            "/containers/{engine_id}",
            "/events/stream_started",
            "/events/stream_ended",
            "/streams",
            "/scale/{n}",
            "/orchestrator/status",
            "/health",
            "/metrics",
        } <= paths
        components = schema["components"]["schemas"]
        assert {"provisioning", "capacity", "vpn", "timestamp"} <= set(
            components["OrchestratorStatus"]["properties"]
        )
        assert {"health_status", "first_seen", "streams"} <= set(components["EngineOut"]["properties"])
        assert "requestBody" in schema["paths"]["/events/stream_started"]["post"]
