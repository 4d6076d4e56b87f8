"""The dashboard through the API on the fake runtime: the page and its files are served (and `/` leads to
it), its snapshot shows what the routes it stands for answer, its live feed delivers events and state
changes as they happen, and the key rules hold, read-only mode included. (The page itself, in a real
browser: tests/e2e/test_dashboard_browser.py.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from acexy_events import started_event
from litestar import Litestar

from supervisor.dashboard.feed import FEED_POLL_S
from supervisor.runtime.docker_runtime import docker_time
from supervisor.runtime.fake import IMAGE_BUILT

pytestmark = pytest.mark.anyio
WRONG = {"Authorization": "Bearer not-the-key"}


async def test_the_page_its_files_and_the_redirect_are_served_without_a_key(open_client: Any) -> None:
    async with open_client("single") as client:
        root = await client.get("/")
        assert root.status_code in (301, 302, 303, 307, 308) and root.headers["location"] == "/dashboard"
        page = await client.get("/dashboard")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        html = page.text
        assert '<script src="/dashboard/static/dashboard.js" defer></script>' in html
        assert 'href="/dashboard/static/dashboard.css"' in html
        assert "acestream-single" in html and 'data-read-only="false"' in html
        assert "<script>" not in html  # nothing inline: the CSP allows only the package's own files
        script = await client.get("/dashboard/static/dashboard.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert "sessionStorage" in script.text and "/events/stream" in script.text
        style = await client.get("/dashboard/static/dashboard.css")
        assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
        assert (await client.get("/dashboard/static/nothing.js")).status_code == 404


async def test_the_snapshot_shows_what_the_routes_answer(
    open_client: Any, auth: dict[str, str], runtime: Any
) -> None:
    async with open_client("single", max_replicas=4, max_streams_per_engine=2) as client:
        supervisor = client.app.state.supervisor
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        await supervisor.readiness.tick()
        started = await client.post(
            "/events/stream_started", json=started_event(engine["host_http_port"]), headers=auth
        )
        stream_id = started.json()["id"]
        await supervisor.stream_check.tick()
        await client.post("/scale/3", headers=auth)

        shown = (await client.get("/dashboard/state", headers=auth)).json()
        status = (await client.get("/orchestrator/status")).json()
        assert {k: v for k, v in shown["status"].items() if k != "timestamp"} == {
            k: v for k, v in status.items() if k != "timestamp"
        }
        assert shown["health"] == (await client.get("/health/status")).json()
        assert shown["vpn"] == (await client.get("/vpn/status")).json()
        assert [row["engine"] for row in shown["engines"]] == (await client.get("/engines?all=true")).json()
        assert shown["engines"][0]["image"]["outdated"] is False
        assert shown["engines"][0]["image"]["built"] == IMAGE_BUILT.isoformat().replace("+00:00", "Z")
        assert shown["engines"][0]["image"]["id"].startswith("sha256:")
        (row,) = shown["streams"]
        assert row["stream"] == (await client.get(f"/streams/{stream_id}")).json()
        assert row["engine_name"] == engine["container_name"]
        assert row["stats"] == (await client.get(f"/streams/{stream_id}/stats")).json()
        assert row["stats"][-1]["peers"] == 7
        assert shown["events"] == (await client.get("/events")).json()
        assert shown["scale"] == {
            "desired": 3,
            "min_replicas": 0,
            "max_replicas": 4,
            "max_streams_per_engine": 2,
        }
        assert shown["image"]["reference"] == "engine:test" and shown["image"]["missing"] is None
        assert shown["read_only"] is False


async def test_an_engine_on_an_older_image_shows_it_outdated_with_that_images_age(
    open_client: Any, runtime: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        made = (await client.post("/provision/acestream", headers=auth)).json()
        event = started_event(made["host_http_port"], session="s1")  # busy: kept while it serves
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        newer = "sha256:" + "b" * 64
        runtime.registry["engine:test"] = newer  # a newer image behind the same tag, built a month later
        runtime.image_built[newer] = datetime(2026, 12, 1, tzinfo=UTC)
        await supervisor.image.tick()
        shown = (await client.get("/dashboard/state", headers=auth)).json()
        (row,) = shown["engines"]
        assert row["image"]["outdated"] is True and row["image"]["id"] != newer
        assert row["image"]["built"] == "2026-11-01T00:00:00Z"  # its own image's age, not the new one's
        assert shown["image"]["current_id"] == newer


async def test_the_snapshots_event_log_filters_by_type_and_engine(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_replicas=4) as client:
        first = (await client.post("/provision/acestream", json={"labels": {"a": "1"}}, headers=auth)).json()
        second = (await client.post("/provision/acestream", json={"labels": {"a": "2"}}, headers=auth)).json()
        await client.delete(f"/engines/{first['container_id']}", headers=auth)

        async def events(**query: str) -> list[tuple[str, str | None]]:
            answer = await client.get("/dashboard/state", params=query, headers=auth)
            assert answer.status_code == 200, answer.text
            return [(event["type"], event["engine_name"]) for event in answer.json()["events"]]

        assert await events(event_type="engine_removed") == [("engine_removed", first["container_name"])]
        assert await events(event_engine=second["container_name"]) == [
            ("engine_created", second["container_name"])
        ]
        assert set(await events()) >= {
            ("engine_created", first["container_name"]),
            ("engine_created", second["container_name"]),
            ("engine_removed", first["container_name"]),
        }
        bad = await client.get("/dashboard/state", params={"event_type": "nonsense"}, headers=auth)
        assert bad.status_code == 400 and "event_type" in bad.text


async def test_the_views_need_the_key_and_say_which_problem(open_client: Any, auth: dict[str, str]) -> None:
    async with open_client("standalone") as client:
        missing = await client.get("/dashboard/state")
        assert missing.status_code == 401 and "API key" in missing.json()["detail"]
        wrong = await client.get("/dashboard/state", headers=WRONG)
        assert wrong.status_code == 403 and missing.json()["detail"] != wrong.json()["detail"]
        assert (await client.get("/dashboard/state", headers=auth)).status_code == 200
        async with feed(client.app, {}) as unkeyed:
            assert unkeyed.status == 401
        async with feed(client.app, WRONG) as wrongly:
            assert wrongly.status == 403
        async with feed(client.app, auth) as keyed:
            assert keyed.status == 200 and (await keyed.next_event())[0] == "hello"
        schema = (await client.get("/schema/openapi.json")).json()
        assert schema["paths"]["/dashboard/state"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
        # Deliberately out of the document: HTML, files, a redirect and an endless stream.
        assert not {"/", "/dashboard", "/events/stream"} & set(schema["paths"])
        assert not [path for path in schema["paths"] if path.startswith("/dashboard/static")]


async def test_read_only_mode_opens_the_views_and_nothing_else(open_client: Any) -> None:
    async with open_client("standalone", env={"dashboard_read_only": True}) as client:
        shown = await client.get("/dashboard/state")
        assert shown.status_code == 200 and shown.json()["read_only"] is True
        async with feed(client.app, {}) as unkeyed:
            assert unkeyed.status == 200 and (await unkeyed.next_event())[0] == "hello"
        assert 'data-read-only="true"' in (await client.get("/dashboard")).text
        # The actions stay keyed.
        assert (await client.post("/scale/1")).status_code == 401
        assert (await client.post("/scale/1", headers=WRONG)).status_code == 403
        assert (await client.post("/health/circuit-breaker/reset")).status_code == 401
        assert (await client.post("/provision/acestream")).status_code == 401
        schema = (await client.get("/schema/openapi.json")).json()
        view = schema["paths"]["/dashboard/state"]["get"]
        assert "security" not in view and not {"401", "403"} & set(view["responses"])
        assert schema["paths"]["/scale/{n}"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]


async def test_the_feed_delivers_each_new_event_and_state_change_within_a_second(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_replicas=4) as client, feed(client.app, auth) as live:
        kind, hello = await live.next_event()
        assert kind == "hello" and set(hello) == {"version", "event_id"}
        asked = time.monotonic()
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        seen: dict[str, Any] = {}
        while not {"log", "state"} <= set(seen):
            kind, data = await live.next_event(timeout=1.0)
            seen.setdefault(kind, data)
        took = time.monotonic() - asked
        assert seen["log"]["type"] == "engine_created"
        assert seen["log"]["engine_id"] == engine["container_id"]
        assert seen["state"]["version"] > hello["version"]
        print(f"\nfeed: the event and the state change arrived {took * 1000:.0f} ms after the provision")
        assert live.last_id == seen["log"]["id"]


async def test_an_open_feed_is_timed_until_it_answers_not_for_as_long_as_it_stays_open(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        async with feed(client.app, auth) as live:
            assert (await live.next_event())[0] == "hello"
            await asyncio.sleep(1.0)  # a page left open
        metrics = (await client.get("/metrics")).text
    prefix = (
        'ace_supervisor_api_request_duration_seconds_sum{method="GET",route="/events/stream",status="200"}'
    )
    (line,) = [line for line in metrics.splitlines() if line.startswith(prefix)]
    assert float(line.rsplit(" ", 1)[1]) < 0.5


async def test_a_feed_reopened_with_last_event_id_gets_what_it_missed(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone", max_replicas=4) as client:
        for _ in range(3):
            assert (await client.post("/provision/acestream", headers=auth)).status_code == 200
        newest = (await client.get("/events", params={"limit": 3})).json()
        assert [event["type"] for event in newest] == ["engine_created"] * 3
        since = newest[-1]["id"]  # the oldest of the three: the two after it were missed
        async with feed(client.app, {**auth, "Last-Event-ID": str(since)}) as live:
            assert (await live.next_event())[0] == "hello"
            missed = [await live.next_event() for _ in range(2)]
        assert [(kind, data["id"]) for kind, data in missed] == [
            ("log", newest[1]["id"]),
            ("log", newest[0]["id"]),
        ]


async def test_an_open_feed_ends_when_the_server_shuts_down(open_client: Any, auth: dict[str, str]) -> None:
    """The lifespan (and `ace-supervisor serve` on SIGTERM) tells the feeds to end: a shutdown never
    waits for an open page. (The fixture fails the test if a task outlives the app.)"""
    async with open_client("standalone") as client, feed(client.app, auth, disconnect=False) as live:
        assert (await live.next_event())[0] == "hello"
        client.app.state.closing = True
        await asyncio.wait_for(live.task, 5 * FEED_POLL_S + 1)
        with pytest.raises(asyncio.TimeoutError):  # nothing more: the response ended
            await live.next_event(timeout=0.1)
        assert live.ended


class FeedReader:
    """The server-sent events of one GET /events/stream, as they arrive."""

    def __init__(self, status: int, messages: asyncio.Queue[Any], task: asyncio.Task[None]) -> None:
        self.status, self._messages, self.task = status, messages, task
        self._buffer = ""
        self.last_id: int | None = None
        self.ended = False

    async def next_event(self, timeout: float = 2.0) -> tuple[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while "\n\n" not in self._buffer:
            left = deadline - asyncio.get_running_loop().time()
            message = await asyncio.wait_for(self._messages.get(), max(left, 0.001))
            self._buffer += message.get("body", b"").decode().replace("\r\n", "\n")
            if not message.get("more_body", False):
                self.ended = True
        block, self._buffer = self._buffer.split("\n\n", 1)
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields[name] = value
        if "id" in fields:
            self.last_id = int(fields["id"])
        return fields.get("event", "message"), json.loads(fields["data"])


@asynccontextmanager
async def feed(app: Litestar, headers: dict[str, str], disconnect: bool = True) -> AsyncIterator[FeedReader]:
    """GET /events/stream straight through the ASGI app (httpx's ASGI transport waits for the whole
    body, which an endless stream never finishes)."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    messages: asyncio.Queue[Any] = asyncio.Queue()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/events/stream",
        "raw_path": b"/events/stream",
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("supervisor.test", 80),
    }

    async def send(message: Any) -> None:
        await messages.put(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            await inbox.put({"type": "http.disconnect"})  # as a server says once the response is sent

    task = asyncio.create_task(app(scope, inbox.get, send))  # type: ignore[arg-type]
    start = await asyncio.wait_for(messages.get(), 5)
    assert start["type"] == "http.response.start"
    reader = FeedReader(start["status"], messages, task)
    try:
        yield reader
    finally:
        if disconnect and not task.done():
            await inbox.put({"type": "http.disconnect"})
        await asyncio.wait_for(task, 5)


def test_docker_build_times_are_read_to_the_microsecond_and_the_zero_time_is_none() -> None:
    assert docker_time("2026-11-01T10:00:00.123456789Z") == datetime(2026, 11, 1, 10, 0, 0, 123456, UTC)
    assert docker_time("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert docker_time("2026-11-01T12:00:00.5+02:00") == datetime(2026, 11, 1, 10, 0, 0, 500000, UTC)
    assert docker_time("0001-01-01T00:00:00Z") is None  # Docker's zero time: unknown
    assert docker_time("yesterday") is None
