"""The engine image on the fake runtime: never pulled inside a provision, a missing image is its own
refusal (the breaker untouched), and a pull that brings a new image id replaces older engines when idle."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio

IMAGE = "engine:test"


async def test_a_missing_image_refuses_provisioning_until_it_is_pulled(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    runtime.missing_images.add(IMAGE)
    runtime.pull_fails = True  # no registry: the scheduled pull cannot fix it yet
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        await supervisor.image.tick()
        for _ in range(6):  # more than the breaker's threshold
            answer = await client.post("/provision/acestream", headers=auth)
            assert answer.status_code == 503
            detail = answer.json()["detail"]
            assert detail["code"] == "image_missing" and detail["should_wait"] is False
            assert "engine:test is not on the daemon" in detail["message"]
        status = (await client.get("/orchestrator/status")).json()
        assert status["provisioning"]["blocked_reason"] == "image_missing"
        assert status["provisioning"]["circuit_breaker_state"] == "closed"
        assert runtime.pulls == [IMAGE]  # the scheduled pull, never one inside a provision
        runtime.pull_fails = False
        await supervisor.image.tick()
        assert (await client.post("/provision/acestream", headers=auth)).status_code == 200


async def test_an_image_that_vanished_is_noticed_by_the_provision_that_needed_it(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        runtime.missing_images.add(IMAGE)  # removed behind the supervisor's back (docker rmi)
        answer = await client.post("/provision/acestream", headers=auth)
        assert answer.status_code == 503 and answer.json()["detail"]["code"] == "image_missing"
        assert runtime.pulls == []  # not pulled there: a pull can outlast any proxy's timeout
        assert client.app.state.supervisor.state.pool.used(None) == 0  # its slot released


async def test_a_new_image_id_replaces_idle_engines_and_waits_for_busy_ones(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        made = [
            (await client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=auth)).json()
            for n in range(2)
        ]
        busy, idle = made
        event = started_event(busy["host_http_port"], session="s1")
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        runtime.registry[IMAGE] = "sha256:" + "b" * 64  # a newer image behind the same tag
        await supervisor.image.tick()
        await supervisor.reconciler.tick()
        assert idle["container_id"] not in runtime.containers
        assert busy["container_id"] in runtime.containers  # it serves: never cut
        (listed,) = (await client.get("/engines", params={"all": "true"})).json()
        assert listed["withdrawn"] == "draining"
        updated = (await client.get("/events", params={"type": "image_updated"})).json()
        assert len(updated) == 1 and "bbbbbbbb" in updated[0]["message"]
        await client.post("/events/stream_ended", json={"stream_id": "abc|s1"}, headers=auth)
        await supervisor.reconciler.tick()
        assert busy["container_id"] not in runtime.containers
        new = (await client.post("/provision/acestream", headers=auth)).json()
        assert runtime.containers[new["container_id"]].image_id == "sha256:" + "b" * 64


async def test_an_image_never_pulled_is_only_checked(
    open_client: Any, runtime: FakeRuntime, settings_for: Any
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        stack = supervisor.config.stack
        engine = stack.engine.model_copy(update={"image_pull": "never"})  # a locally built image
        supervisor.state.config = dataclasses.replace(
            supervisor.config, stack=stack.model_copy(update={"engine": engine})
        )
        await supervisor.image.tick()
        assert runtime.pulls == []
        assert supervisor.state.image.current_id is not None
