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
