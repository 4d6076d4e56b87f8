"""A client's `env` may set no variable through which any engine image learns its ports."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.core.environment import engine_environment
from supervisor.stack_settings import PortStyle

pytestmark = pytest.mark.anyio

EVERY_PORT_VARIABLE = sorted({name for style in PortStyle for name in engine_environment(style, 1, 2, 3)})


@pytest.mark.parametrize("variable", EVERY_PORT_VARIABLE)
async def test_a_port_variable_of_any_image_is_refused_in_env(
    variable: str, open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        answer = await client.post("/provision/acestream", json={"env": {variable: "1"}}, headers=auth)
        assert answer.status_code == 400 and answer.json()["field"] == f"env.{variable}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"env": {"A\u0000B": "1"}}, "env.A\u0000B"),
        ({"env": {"1ABC": "1"}}, "env.1ABC"),
        ({"env": {"A=B": "1"}}, "env.A=B"),
        ({"env": {"OK": "a\u0000b"}}, "env.OK"),
        ({"labels": {"": "x"}}, "labels."),
        ({"labels": {"k": "a\u0000b"}}, "labels.k"),
    ],
)
async def test_what_docker_would_refuse_is_a_400_and_never_trips_the_breaker(
    body: dict[str, Any], field: str, open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        for _ in range(6):  # more than the breaker's threshold in the test settings
            answer = await client.post("/provision/acestream", json=body, headers=auth)
            assert answer.status_code == 400 and answer.json()["field"] == field
        status = (await client.get("/orchestrator/status")).json()["provisioning"]
        assert status["circuit_breaker_state"] == "closed" and status["can_provision"]
