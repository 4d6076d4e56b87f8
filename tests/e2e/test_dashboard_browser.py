"""The dashboard in a real browser: Playwright drives Debian's Chromium (headless, /usr/bin/chromium)
against one `ace-supervisor serve` on the real-Docker bench (single-VPN mode: a gluetun stand-in and engine
stand-ins), shared by every test of this file.

- A wrong key is refused with a message saying so; nothing of the stack is shown.
- The page loads with no console error, its KPIs equal /orchestrator/status (and /health/status), axe-core
  finds no serious or critical violation, and nothing overflows at phone width.
- An engine provisioned through the API appears in the table within one second.
- A stream stopped from the page ends on the engine; its chart showed the engine's figures first. The
  screenshot of that page is saved as a test artifact (the path is printed) and, with
  ACE_DASHBOARD_SCREENSHOT_DOCS=1, as docs/dashboard.png.
- Scaled to two from the page, an engine container killed behind its back shows withdrawn, then replaced.
- An engine removed and the breaker reset from the page: each confirmed first, its outcome shown.
- Restarted read-only: the page shows the stack without a key; an action asks for it, and a wrong one is
  refused with the message, the right one then does it.

Marked docker: under CI=true none of them may skip, and a missing Chromium is a failure there (.ci/run,
through the justfile, installs Debian's chromium when it is missing).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from bench.fixtures import BENCH_LABEL, _leftovers, _remove_labelled
from e2e import supervisor_harness as harness
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

pytestmark = pytest.mark.docker

CHROMIUM = Path("/usr/bin/chromium")
# As the machine's notes say Chromium must start here: no sandbox as root, and no background
# connections (this machine's closed network refuses them, each a console error).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIRST_ENGINE_PORT = 27450  # engines 27450-27459, the supervisor on the first free port of 27440-27449
ARTIFACTS = Path(os.environ.get("ACE_TEST_ARTIFACTS", harness.ROOT / "test-artifacts"))
DOCS_SCREENSHOT = harness.ROOT / "docs" / "dashboard.png"
LIVE_S = 1.0  # the bound: a change shows on the page within a second


@pytest.fixture(scope="module")
def stack(
    docker_client: docker.DockerClient,
    docker_host: str,
    bench_images: dict[str, float],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[harness.SupervisorProcess]:
    """One single-VPN stack (one engine kept by replicas.min, stats collected every second) for the
    whole file; everything it made is removed at the end, and the supervisor must stop promptly with a
    page's live feed open."""
    name = f"acetest-{uuid.uuid4().hex[:10]}"
    labels = {BENCH_LABEL: name}
    workdir = tmp_path_factory.mktemp("dashboard")
    settings = harness.stack_settings(
        workdir,
        name,
        "single",
        FIRST_ENGINE_PORT,
        ports=10,
        max_replicas=4,
        replicas={"min": 1},
        timings={"health_check_interval_s": 1},
    )
    taken = [
        port for port in range(FIRST_ENGINE_PORT, FIRST_ENGINE_PORT + 10) if not harness.port_is_free(port)
    ]
    assert not taken, f"host ports {taken} are in use; the dashboard tests need 27440-27459 free"
    port = next((p for p in range(27440, 27450) if harness.port_is_free(p)), harness.free_supervisor_port())
    try:
        network = harness.make_network(docker_client, name, labels)
        extra = harness.start_gluetuns(docker_client, settings, name, network, labels)
        supervisor = harness.SupervisorProcess(
            settings, workdir, docker_host, project=name, network=network, extra_env=extra, port=port
        )
        supervisor.start()
        try:
            with supervisor.client() as client:
                harness.wait_until(lambda: ready(client) >= 1, 30, "the stack's first engine ready")
            yield supervisor
        finally:
            stopping = time.monotonic()
            supervisor.stop()
            print(f"\ndashboard: the supervisor stopped {time.monotonic() - stopping:.1f} s after SIGTERM")
    finally:
        _remove_labelled(docker_client, name)
        left = _leftovers(docker_client, name)
        assert not left, f"left behind: {left}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (Debian's package)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


class Tab:
    """A page of the dashboard and every console error or uncaught exception it produced."""

    def __init__(self, page: Page, url: str) -> None:
        self.page, self.url = page, url
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location})")

    def open(self, key: str | None = harness.API_KEY) -> Page:
        """Load the page and, given a key, enter it where the page asks; then wait for the first data."""
        self.page.goto(f"{self.url}/dashboard")
        dialog = self.page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        if key is not None:
            self.page.get_by_role("textbox", name="API key").fill(key)
            self.page.get_by_role("button", name="Use this key").click()
        return self.page

    def wait_loaded(self) -> None:
        expect(self.page.locator("#engines tbody tr").first).to_be_visible()
        expect(self.page.locator("#live")).to_have_text("live")


@pytest.fixture
def tab(browser: Browser, stack: harness.SupervisorProcess) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield Tab(page, stack.url)
    context.close()


def ready(client: httpx.Client) -> int:
    return sum(1 for engine in client.get("/engines").json() if engine["health_status"] == "healthy")


def kpis(page: Page) -> dict[str, str]:
    names = ["engines-total", "engines-unhealthy", "engines-withdrawn", "streams-active", "standby"]
    shown = {name: page.locator(f"#kpi-{name}").inner_text() for name in names}
    shown["can_provision"] = page.locator("#kpi-provisioning").get_attribute("data-can-provision") or ""
    return shown


def answered(client: httpx.Client) -> dict[str, str]:
    status = client.get("/orchestrator/status").json()
    health = client.get("/health/status").json()
    return {
        "engines-total": str(status["engines"]["total"]),
        "engines-unhealthy": str(status["engines"]["unhealthy"]),
        "engines-withdrawn": str(health["engines"]["withdrawn"]),
        "streams-active": str(status["streams"]["active"]),
        "standby": f"{status['standby']['ready']} of {status['standby']['wanted']}",
        "can_provision": str(status["provisioning"]["can_provision"]).lower(),
    }


def confirm(page: Page) -> None:
    dialog = page.get_by_role("dialog", name="Are you sure?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Yes, go ahead").click()


def test_a_wrong_key_is_refused_with_the_message(tab: Tab) -> None:
    page = tab.open("not-the-key")
    error = page.locator("#key-error")
    expect(error).to_contain_text("The API key was refused (403)")
    expect(page.locator("#notice")).to_contain_text("not this supervisor's key")
    expect(page.locator("#key-dialog")).to_be_visible()  # asked again
    assert page.locator("#engines tbody tr").count() == 0  # nothing of the stack is shown
    assert page.evaluate("sessionStorage.length") == 0  # a refused key is not kept
    page.get_by_role("textbox", name="API key").fill(harness.API_KEY)
    page.get_by_role("button", name="Use this key").click()
    tab.wait_loaded()
    assert page.evaluate("Object.keys(sessionStorage)") == ["ace-supervisor.api-key"]
    assert page.evaluate("localStorage.getItem('ace-supervisor.api-key')") is None


def test_the_page_loads_without_console_errors_shows_the_status_and_passes_axe(
    tab: Tab, stack: harness.SupervisorProcess
) -> None:
    page = tab.open()
    tab.wait_loaded()
    with stack.client() as client:
        harness.wait_until(lambda: kpis(page) == answered(client), 5, "the KPIs equal /orchestrator/status")
    expect(page.locator("[data-vpn='gluetun']")).to_contain_text("203.0.113")  # the stand-in's public IP
    built = page.locator("#engines tbody tr").first.locator("td[data-image-built]")
    expect(built).to_have_attribute("data-image-built", re.compile(r"^\d{4}-\d\d-\d\dT"))  # from Docker
    expect(built).to_contain_text(" old")
    results = Axe().run(page)
    grave = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not grave, results.generate_report()
    minor = [f"{v['id']} ({v['impact']})" for v in results.response["violations"]]
    print(f"\naxe-core: no serious or critical violation; the others: {minor or 'none'}")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.wait_for_timeout(200)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than a phone's screen"
    phone = Axe().run(page)
    assert not [v for v in phone.response["violations"] if v["impact"] in ("serious", "critical")], (
        phone.generate_report()
    )
    assert not tab.errors, tab.errors


def test_an_engine_provisioned_through_the_api_appears_within_a_second(
    tab: Tab, stack: harness.SupervisorProcess
) -> None:
    page = tab.open()
    tab.wait_loaded()
    with stack.client() as client:
        before = {row.get_attribute("data-engine-id") for row in page.locator("#engines tbody tr").all()}
        # Labelled: a new engine (a plain provision would hand out the idle one the table already shows).
        made = client.post(
            "/provision/acestream", json={"labels": {"test": "dashboard"}}, headers=harness.AUTH
        )
        answered_at = time.monotonic()
        assert made.status_code == 200, made.text
        engine = made.json()
        assert engine["container_id"] not in before
        row = page.locator(f"#engines tr[data-engine-id='{engine['container_id']}']")
        expect(row).to_be_visible(timeout=LIVE_S * 1000)
        print(f"\ndashboard: the new engine showed {time.monotonic() - answered_at:.2f} s after the answer")
        expect(row).to_contain_text(engine["container_name"])
        expect(row).to_contain_text(str(engine["host_http_port"]))
        expect(row).to_contain_text("gluetun")
        client.delete(f"/engines/{engine['container_id']}", headers=harness.AUTH)
        expect(row).to_have_count(0)
    assert not tab.errors, tab.errors


def test_a_stream_stopped_from_the_page_ends_on_the_engine(
    tab: Tab, stack: harness.SupervisorProcess
) -> None:
    page = tab.open()
    tab.wait_loaded()
    with stack.client() as client:
        engine = client.get("/engines").json()[0]
        port = engine["port"]
        session = httpx.get(
            f"http://127.0.0.1:{port}/ace/getstream", params={"content_id": "0a1b2c3d4e", "format": "json"}
        ).json()["response"]
        started = {
            "engine": {"host": "localhost", "port": port},
            "stream": {"key_type": "content_id", "key": "0a1b2c3d4e"},
            "session": {
                key: session[key] for key in ("playback_session_id", "stat_url", "command_url", "is_live")
            },
        }
        stream = client.post("/events/stream_started", json=started, headers=harness.AUTH).json()
        row = page.locator(f"#streams tr[data-stream-id='{stream['id']}']")
        expect(row).to_be_visible(timeout=LIVE_S * 1000)
        # The chart draws once two snapshots are in (one a second), and the page shows them at its next
        # refresh (every second here).
        page.select_option("#interval", "1")
        expect(row.locator("polyline.down")).to_have_count(1, timeout=15_000)
        # A few more points, for the screenshot's chart.
        harness.wait_until(
            lambda: len(client.get(f"/streams/{stream['id']}/stats").json()) >= 6, 15, "samples"
        )
        page.wait_for_timeout(1200)
        expect(row).to_have_attribute("data-peers", re.compile(r"^[1-9]\d*$"))  # from the engine
        screenshot(page)

        row.get_by_role("button", name=f"Stop stream {stream['id']}").click()
        confirm(page)
        expect(page.locator("#outcome")).to_contain_text(
            f"Stream {stream['id']} stopped (the engine confirmed)"
        )
        expect(row).to_have_count(0)
        assert httpx.get(session["stat_url"]).json()["response"] is None  # the engine no longer has it
        ended = client.get(f"/streams/{stream['id']}").json()
        assert (ended["status"], ended["end_reason"]) == ("ended", "stopped_by_api")
    assert not tab.errors, tab.errors


def test_a_killed_engine_shows_withdrawn_then_replaced(
    tab: Tab, stack: harness.SupervisorProcess, docker_client: docker.DockerClient
) -> None:
    page = tab.open()
    tab.wait_loaded()
    page.get_by_label("Engines wanted").fill("2")
    page.get_by_role("button", name="Scale").click()
    confirm(page)
    expect(page.locator("#outcome")).to_contain_text("Scaling to 2 engine(s)")
    with stack.client() as client:
        harness.wait_until(lambda: ready(client) == 2, 30, "two ready engines")
        victim = sorted(engine["container_id"] for engine in client.get("/engines").json())[0]
    rows = page.locator("#engines tbody tr")
    expect(rows).to_have_count(2)
    docker_client.containers.get(victim).kill()
    killed_at = time.monotonic()
    expect(page.locator(f"#engines tr[data-engine-id='{victim}']")).to_have_attribute(
        "data-withdrawn", "container_stopped", timeout=LIVE_S * 1000
    )
    print(
        f"\ndashboard: the killed engine showed withdrawn {time.monotonic() - killed_at:.2f} s after the kill"
    )
    expect(page.locator(f"#engines tr[data-engine-id='{victim}']")).to_have_count(0, timeout=30_000)
    expect(page.locator("#engines tbody tr[data-phase='ready']")).to_have_count(2, timeout=30_000)
    assert victim not in {row.get_attribute("data-engine-id") for row in rows.all()}
    assert not tab.errors, tab.errors


def test_removing_an_engine_and_resetting_the_breaker_from_the_page(
    tab: Tab, stack: harness.SupervisorProcess, docker_client: docker.DockerClient
) -> None:
    page = tab.open()
    tab.wait_loaded()
    first = page.locator("#engines tbody tr").first
    engine_id = first.get_attribute("data-engine-id")
    name = first.locator("th").inner_text()
    first.get_by_role("button", name=f"Remove engine {name}").click()
    dialog = page.get_by_role("dialog", name="Are you sure?")
    dialog.get_by_role("button", name="Cancel").click()  # asked first: cancelling does nothing
    expect(page.locator("#outcome")).to_be_hidden()
    assert docker_client.containers.get(engine_id).status == "running"
    first.get_by_role("button", name=f"Remove engine {name}").click()
    confirm(page)
    expect(page.locator("#outcome")).to_contain_text(f"Engine {name} removed.")
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(engine_id)
    page.get_by_role("button", name="Reset circuit breaker").click()
    confirm(page)
    expect(page.locator("#outcome")).to_contain_text("Circuit breaker reset: it is closed now.")
    with stack.client() as client:
        events = client.get("/events", params={"type": "breaker_reset"}).json()
        assert events and events[0]["message"].startswith("reset through the API")
    assert not tab.errors, tab.errors


def screenshot(page: Page) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\ndashboard: screenshot saved as {path}")
    if os.environ.get("ACE_DASHBOARD_SCREENSHOT_DOCS") == "1":
        shutil.copyfile(path, DOCS_SCREENSHOT)
        print(f"dashboard: and copied to {DOCS_SCREENSHOT}")


def test_read_only_mode_shows_the_stack_without_a_key_and_an_action_still_needs_the_right_one(
    tab: Tab, stack: harness.SupervisorProcess
) -> None:
    """Last in this file: it restarts the shared supervisor with ACE_SUPERVISOR_DASHBOARD_READ_ONLY."""
    stack.stop()
    stack.extra_env["ACE_SUPERVISOR_DASHBOARD_READ_ONLY"] = "true"
    stack.start()
    page = tab.page
    page.goto(f"{stack.url}/dashboard")
    tab.wait_loaded()  # no key asked: the views are open
    expect(page.locator("#key-dialog")).to_be_hidden()
    page.get_by_role("button", name="Reset circuit breaker").click()
    confirm(page)
    expect(page.locator("#key-dialog")).to_be_visible()  # the action asks for the key
    page.get_by_role("textbox", name="API key").fill("not-the-key")
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator("#outcome")).to_contain_text("Not done: The API key was refused (403)")
    expect(page.locator("#key-error")).to_contain_text("not this supervisor's key")
    page.get_by_role("textbox", name="API key").fill(harness.API_KEY)
    page.get_by_role("button", name="Use this key").click()  # the refused action is sent again
    expect(page.locator("#outcome")).to_contain_text("Circuit breaker reset: it is closed now.")
    refused = [error for error in tab.errors if "status of 403" not in error]
    assert not refused, refused  # the one 403 is the browser's own log line of the refused request
