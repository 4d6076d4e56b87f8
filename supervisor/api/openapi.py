"""The OpenAPI document the supervisor serves (`/schema/openapi.json`, Swagger UI at `/schema/swagger`).

Litestar writes it from the routes and their types (each route lists its error answers with
`errors.documented`). What Litestar cannot know is written in here, once, before the document is first
served, so that a request the document allows is one this stack accepts:
- a body whose type admits null (the provision's) is optional: an empty or absent body is accepted;
- the variables a provision may set (`engine.allowed_env`), the host ports it may ask for (the engine
  ranges) and the counts `POST /scale/{n}` takes (`replicas.min..max`) are this stack's;
- `POST /events/stream_ended` names a stream or an engine;
- links say which route takes what an answer names (a provision's engine, a started stream's id);
- started without a key (`ACE_SUPERVISOR_INSECURE_NO_AUTH`), no route declares one; with the dashboard
  read-only (`ACE_SUPERVISOR_DASHBOARD_READ_ONLY`), no read route does (the keyed GETs are its views).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components

from supervisor.api.auth import SECURITY_SCHEMES
from supervisor.settings import Config

Document = dict[str, Any]
_ENGINE = ("/engines/{engine_id}", "get")
_STREAM = ("/streams/{stream_id}", "get")

# (route, status): {link name: (target route, its parameters, its request body)}, in the document's
# runtime expressions (a body is merged into what the client would send anyway).
LINKS: dict[tuple[str, str], dict[str, tuple[tuple[str, str], dict[str, str], dict[str, Any] | None]]] = {
    ("/provision/acestream", "post"): {
        "engine": (_ENGINE, {"engine_id": "$response.body#/container_id"}, None),
        "remove": (("/engines/{engine_id}", "delete"), {"engine_id": "$response.body#/container_id"}, None),
        "stream_started": (
            ("/events/stream_started", "post"),
            {},
            {
                "container_id": "$response.body#/container_id",
                "engine": {"port": "$response.body#/host_http_port"},
            },
        ),
    },
    ("/events/stream_started", "post"): {
        "stream": (_STREAM, {"stream_id": "$response.body#/id"}, None),
        "stats": (("/streams/{stream_id}/stats", "get"), {"stream_id": "$response.body#/id"}, None),
        "stop": (("/streams/{stream_id}/stop", "post"), {"stream_id": "$response.body#/id"}, None),
        "delete": (("/streams/{stream_id}", "delete"), {"stream_id": "$response.body#/id"}, None),
        "stream_ended": (("/events/stream_ended", "post"), {}, {"stream_id": "$response.body#/id"}),
        "engine": (_ENGINE, {"engine_id": "$response.body#/container_id"}, None),
    },
}


def openapi_config(config: Config) -> OpenAPIConfig:
    refine = _StackRefinement(config)
    return OpenAPIConfig(
        title="ace-supervisor",
        version="1.0.0",
        description="Provisions AceStream engines on demand; the API acestream proxies use.",
        path="/schema",
        components=Components(security_schemes=dict(SECURITY_SCHEMES)),
        render_plugins=[_Json(refine), _Swagger(refine)],
    )


class _StackRefinement:
    """Writes this stack's facts into Litestar's document, in place, the first time it is served."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._refined: Document | None = None

    def __call__(self, document: Document) -> Document:
        if document is not self._refined:  # Litestar builds the document once and hands out the same dict
            _optional_bodies(document)
            _stack_limits(document, self._config)
            _stream_ended_names_something(document)
            _links(document)
            if self._config.api_key is None:
                _no_key(document)
            elif self._config.env.dashboard_read_only:
                _open_views(document)
            self._refined = document
        return document


class _Json(JsonRenderPlugin):
    def __init__(self, refine: Callable[[Document], Document]) -> None:
        super().__init__()
        self._refine = refine

    def render(self, request: Request[Any, Any, Any], openapi_schema: Document) -> bytes:
        return super().render(request, self._refine(openapi_schema))


class _Swagger(SwaggerRenderPlugin):
    def __init__(self, refine: Callable[[Document], Document]) -> None:
        super().__init__(path="/swagger")
        self._refine = refine

    def render(self, request: Request[Any, Any, Any], openapi_schema: Document) -> bytes:
        return super().render(request, self._refine(openapi_schema))


def _operations(document: Document) -> list[Document]:
    return [
        operation
        for item in document.get("paths", {}).values()
        for method, operation in item.items()
        if method in ("get", "put", "post", "delete", "patch")
    ]


def _optional_bodies(document: Document) -> None:
    """Litestar marks every body required; one whose type admits null may be left out."""
    for operation in _operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        schemas = [media.get("schema", {}) for media in body.get("content", {}).values()]
        if any({"type": "null"} in schema.get("oneOf", ()) for schema in schemas):
            body["required"] = False


def _stack_limits(document: Document, config: Config) -> None:
    schemas = document["components"]["schemas"]
    provision = schemas["ProvisionBody"]["properties"]
    allowed = list(config.stack.engine.allowed_env)
    if allowed:
        provision["env"]["propertyNames"]["enum"] = allowed
    else:
        provision["env"]["maxProperties"] = 0
    ranges = config.stack.published_engine_ranges().values()
    provision["host_port"] = {
        "oneOf": [
            *({"type": "integer", "minimum": span.first, "maximum": span.last} for span in ranges),
            {"type": "null"},
        ],
        "description": "one of the stack's engine ports; 409 when an engine holds it",
    }
    replicas = config.stack.replicas
    for parameter in document["paths"]["/scale/{n}"]["post"]["parameters"]:
        if parameter["name"] == "n":
            parameter["schema"] = {"type": "integer", "minimum": replicas.min, "maximum": replicas.max}


def _stream_ended_names_something(document: Document) -> None:
    body = document["components"]["schemas"]["StreamEndedBody"]
    body["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("stream_id", "container_id")
    ]


def _links(document: Document) -> None:
    paths = document["paths"]
    for (path, method), links in LINKS.items():
        source = paths.get(path, {}).get(method)
        if source is None:
            continue
        answer = next(response for status, response in source["responses"].items() if status.startswith("2"))
        answer["links"] = {
            name: _link(paths[target_path][target_method]["operationId"], parameters, body)
            for name, ((target_path, target_method), parameters, body) in links.items()
            if target_method in paths.get(target_path, {})
        }


def _link(operation_id: str, parameters: dict[str, str], body: dict[str, Any] | None) -> Document:
    link: Document = {"operationId": operation_id}
    if parameters:
        link["parameters"] = parameters
    if body is not None:
        link["requestBody"] = body
    return link


def _no_key(document: Document, methods: tuple[str, ...] = ("get", "put", "post", "delete", "patch")) -> None:
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method in methods and operation.pop("security", None) is not None:
                for status in ("401", "403"):
                    operation["responses"].pop(status, None)


def _open_views(document: Document) -> None:
    """The dashboard's views are open to read; its actions (every other keyed route) are not."""
    _no_key(document, ("get",))
