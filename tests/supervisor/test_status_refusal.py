"""The status answer's refusal: the refusal's own fields, and the codes the API documents from BlockCode."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor.core.breaker import BreakerState
from supervisor.core.capacity import BlockCode

pytestmark = pytest.mark.anyio


async def test_status_shows_the_refusal_a_provision_would_get(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("standalone", max_replicas=1) as client:
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
        refused = (await client.post("/provision/acestream", headers=auth)).json()["detail"]
        provisioning = (await client.get("/orchestrator/status")).json()["provisioning"]
        assert provisioning["blocked_reason"] == "max_capacity"
        assert provisioning["blocked_reason_details"] == refused


async def test_the_schema_takes_the_codes_and_breaker_states_from_their_enums(open_client: Any) -> None:
    async with open_client("standalone") as client:
        schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    assert schemas["BlockCode"]["enum"] == [code.value for code in BlockCode]
    assert schemas["BreakerState"]["enum"] == [state.value for state in BreakerState]
    assert schemas["BlockedDetail"]["properties"]["code"] == {"$ref": "#/components/schemas/BlockCode"}
