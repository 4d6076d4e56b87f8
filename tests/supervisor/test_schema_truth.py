"""The served OpenAPI document says what the API does: every status each route answers and its body,
optional bodies optional, this stack's limits, links; and the answers it documents for what clients get
wrong: nesting, oversized maps and bodies, other methods, times that are not RFC 3339."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.api.request_body import MAX_BODY_BYTES
from supervisor.api.schemas import MAX_ENTRIES, MAX_KEY, MAX_VALUE

pytestmark = pytest.mark.anyio

KEYED = {
    ("/provision/acestream", "post"),
    ("/engines/acquire", "post"),
    ("/engines/{engine_id}", "delete"),
    ("/containers/{engine_id}", "delete"),
    ("/events/stream_started", "post"),
    ("/events/stream_ended", "post"),
    ("/streams/{stream_id}/stop", "post"),
    ("/streams/{stream_id}", "delete"),
    ("/scale/{n}", "post"),
    ("/health/circuit-breaker/reset", "post"),
}
# Beyond 401/403 on every keyed route and 400 wherever Litestar validates a parameter or a body.
DOCUMENTED = {
    ("/provision/acestream", "post"): {"409", "413", "503"},
    ("/engines/acquire", "post"): {"413", "503"},
    ("/engines/{engine_id}", "get"): {"404"},
    ("/engines/{engine_id}", "delete"): {"404", "503"},
    ("/events/stream_started", "post"): {"404", "413"},
    ("/events/stream_ended", "post"): {"404", "413"},
    ("/streams/{stream_id}", "get"): {"404"},
    ("/streams/{stream_id}/stats", "get"): {"404"},
    ("/streams/{stream_id}/stop", "post"): {"404"},
    ("/streams/{stream_id}", "delete"): {"404"},
    ("/vpn/publicip", "get"): {"404"},
}


async def schema(client: Any) -> dict[str, Any]:
    answer = await client.get("/schema/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "delete", "put", "patch")
    }


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


async def test_every_route_documents_the_statuses_it_answers_with_their_bodies(open_client: Any) -> None:
    async with open_client("standalone") as client:
        document = await schema(client)
    served = operations(document)
    for (path, method), operation in served.items():
        statuses = set(operation["responses"])
        if (path, method) in KEYED:
            assert {"401", "403"} <= statuses, (path, method)
            assert operation["security"] == [{"bearer": []}, {"apiKey": []}], (path, method)
        assert DOCUMENTED.get((path, method), set()) <= statuses, (path, method)
        for status, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                body = resolved(document, media["schema"])
                # Litestar's own 400 documents a `status_code` field that is never sent.
                assert "status_code" not in body.get("required", []), (path, method, status)
        if "400" in statuses:
            body = resolved(document, operation["responses"]["400"]["content"]["application/json"]["schema"])
            assert body["required"] == ["detail"] and {"errors", "field"} <= set(body["properties"])
    refusal = resolved(
        document,
        served[("/provision/acestream", "post")]["responses"]["503"]["content"]["application/json"]["schema"],
    )
    assert {"$ref": "#/components/schemas/BlockedDetail"} in refusal["properties"]["detail"]["oneOf"]


async def test_the_provision_body_is_optional_and_the_stream_bodies_required(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        served = operations(await schema(client))
        assert served[("/provision/acestream", "post")]["requestBody"]["required"] is False
        assert served[("/events/stream_started", "post")]["requestBody"]["required"] is True
        assert served[("/events/stream_ended", "post")]["requestBody"]["required"] is True
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
        missing = await client.post("/events/stream_ended", headers=auth)
        assert missing.status_code == 400


async def test_the_schema_states_this_stacks_limits(open_client: Any) -> None:
    async with open_client(
        "redundant", allowed_env=("ACESTREAM_CACHE_LIMIT",), min=1, max_replicas=4
    ) as client:
        document = await schema(client)
    body = document["components"]["schemas"]["ProvisionBody"]["properties"]
    assert body["env"]["propertyNames"]["enum"] == ["ACESTREAM_CACHE_LIMIT"]
    assert body["labels"]["maxProperties"] == MAX_ENTRIES == body["env"]["maxProperties"]
    assert body["labels"]["propertyNames"]["maxLength"] == MAX_KEY
    assert body["labels"]["additionalProperties"]["maxLength"] == MAX_VALUE
    assert body["host_port"]["oneOf"][:2] == [
        {"type": "integer", "minimum": 40000, "maximum": 40009},
        {"type": "integer", "minimum": 40010, "maximum": 40019},
    ]
    (n,) = document["paths"]["/scale/{n}"]["post"]["parameters"]
    assert n["schema"] == {"type": "integer", "minimum": 1, "maximum": 4}
    ended = document["components"]["schemas"]["StreamEndedBody"]
    assert [option["required"] for option in ended["anyOf"]] == [["stream_id"], ["container_id"]]


async def test_a_stack_that_allows_no_variable_says_so(open_client: Any) -> None:
    async with open_client("standalone") as client:
        env = (await schema(client))["components"]["schemas"]["ProvisionBody"]["properties"]["env"]
    assert env["maxProperties"] == 0


async def test_links_lead_from_a_provision_and_a_started_stream(open_client: Any) -> None:
    async with open_client("standalone") as client:
        served = operations(await schema(client))
    ids = {key: operation["operationId"] for key, operation in served.items()}
    provision = served[("/provision/acestream", "post")]["responses"]["200"]["links"]
    assert provision["engine"] == {
        "operationId": ids[("/engines/{engine_id}", "get")],
        "parameters": {"engine_id": "$response.body#/container_id"},
    }
    assert provision["stream_started"]["requestBody"]["engine"] == {"port": "$response.body#/host_http_port"}
    started = served[("/events/stream_started", "post")]["responses"]["200"]["links"]
    assert started["stop"]["operationId"] == ids[("/streams/{stream_id}/stop", "post")]
    assert started["delete"]["operationId"] == ids[("/streams/{stream_id}", "delete")]
    assert started["stream_ended"]["requestBody"] == {"stream_id": "$response.body#/id"}


async def test_without_a_key_configured_no_route_declares_one(open_client: Any) -> None:
    async with open_client("standalone", api_key=None, env={"insecure_no_auth": True}) as client:
        for (path, method), operation in operations(await schema(client)).items():
            assert "security" not in operation, (path, method)
            assert not {"401", "403"} & set(operation["responses"]), (path, method)


async def test_json_nested_a_thousand_deep_is_a_400_on_every_post(
    open_client: Any, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    deep = "[" * 1000 + "]" * 1000
    async with open_client("standalone") as client:
        posts = [path for (path, method) in operations(await schema(client)) if method == "post"]
        for path in posts:
            answer = await client.post(
                path.replace("{n}", "1").replace("{stream_id}", "x"),
                content=deep,
                headers={**auth, "content-type": "application/json"},
            )
            assert answer.status_code < 500, (path, answer.text)
            if path in (
                "/provision/acestream",
                "/engines/acquire",
                "/events/stream_started",
                "/events/stream_ended",
            ):
                assert answer.status_code == 400, path
                assert "nested too deeply" in answer.json()["detail"], path
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_maps_over_their_limits_are_a_400_naming_the_map_and_the_limit(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", allowed_env=("A",), max_replicas=10) as client:

        async def provision(body: dict[str, Any]) -> Any:
            return await client.post("/provision/acestream", json=body, headers=auth)

        too_many = await provision({"labels": {f"k{n}": "v" for n in range(MAX_ENTRIES + 1)}})
        assert too_many.status_code == 400
        assert (
            too_many.json()["detail"]
            == f"invalid request: labels: Expected `object` of length <= {MAX_ENTRIES}"
        )
        long_key = await provision({"labels": {"k" * (MAX_KEY + 1): "v"}})
        assert (
            long_key.status_code == 400 and f"labels: Expected `str` of length <= {MAX_KEY}" in long_key.text
        )
        long_value = await provision({"labels": {"k": "v" * (MAX_VALUE + 1)}})
        assert long_value.status_code == 400 and f"<= {MAX_VALUE}" in long_value.json()["detail"]
        env = await provision({"env": {f"A{n}": "1" for n in range(MAX_ENTRIES + 1)}})
        assert env.json()["detail"] == f"invalid request: env: Expected `object` of length <= {MAX_ENTRIES}"
        most = {"labels": {f"k{n}": "v" * MAX_VALUE for n in range(MAX_ENTRIES)}, "env": {"A": "1"}}
        assert (await provision(most)).status_code == 200


async def test_a_body_over_the_cap_is_a_413_naming_it(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("standalone") as client:
        body = json.dumps({"labels": {"k": "v" * MAX_BODY_BYTES}})
        answer = await client.post(
            "/provision/acestream", content=body, headers={**auth, "content-type": "application/json"}
        )
    assert answer.status_code == 413
    assert answer.json() == {"detail": f"the request body is over {MAX_BODY_BYTES} bytes; send less"}


async def test_other_methods_are_a_405_with_allow(open_client: Any) -> None:
    async with open_client("standalone") as client:
        put = await client.put("/engines")
        assert put.status_code == 405 and set(put.headers["allow"].split(", ")) == {"GET", "OPTIONS"}
        assert put.json() == {"detail": "Method Not Allowed"}
        # Litestar 2 would list only the first handler's methods here (GET and DELETE share the path).
        options = await client.options("/engines/x")
        assert options.status_code == 204 and options.headers["allow"] == "DELETE, GET, OPTIONS"


async def test_a_time_in_a_query_is_rfc_3339_with_its_offset(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("standalone") as client:
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        stream_id = (
            await client.post(
                "/events/stream_started", json=started_event(engine["host_http_port"]), headers=auth
            )
        ).json()["id"]
        for path in ("/events", "/streams", f"/streams/{stream_id}/stats"):
            for since in ("5", "2026-12-04T10:00:00", "yesterday"):
                answer = await client.get(path, params={"since": since})
                assert answer.status_code == 400, (path, since)
                assert answer.json()["field"] == "since" and "RFC 3339" in answer.json()["detail"]
            assert (await client.get(path, params={"since": "2026-12-04T10:00:00Z"})).status_code == 200
