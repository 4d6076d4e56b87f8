"""The operator metrics a dashboard reads (docs/grafana/), scraped from /metrics on the fake runtime:
engines by phase, VPN state, the breaker, the Docker daemon, why provisioning is refused, events, and the
build; and the version the supervisor prints first at start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from acexy_events import started_event
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from supervisor.cli import main
from supervisor.core.offer import EnginePhase, Withdrawn, phase
from supervisor.runtime.fake import FakeRuntime
from supervisor.store import StoreError
from supervisor.version import REVISION_ENV, version

pytestmark = pytest.mark.anyio


async def scrape(client: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of one scrape, by (name, labels)."""
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(f"ace_supervisor_{name}", frozenset(labels.items()))]


def test_every_withdrawal_reason_is_a_phase_of_its_own() -> None:
    for reason in Withdrawn:
        assert phase(reason, ready=True).value == reason.value
    assert phase(None, ready=False) is EnginePhase.starting
    assert phase(None, ready=True) is EnginePhase.ready


async def test_engines_move_through_their_phases_on_each_vpn(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("redundant", standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()  # creates the standby
        engine = (await client.post("/provision/acestream", json={"labels": {"n": "1"}}, headers=auth)).json()
        samples = await scrape(client)
        vpn = supervisor.state.engines[engine["container_id"]].slot.vpn
        assert value(samples, "engines_by_phase", phase="starting", vpn=vpn) == 1
        standbys = [standby.slot.vpn for standby in supervisor.state.standbys.values()]
        assert len(standbys) == 1
        assert value(samples, "engines_by_phase", phase="standby", vpn=standbys[0]) == 1
        await supervisor.readiness.tick()
        samples = await scrape(client)
        assert value(samples, "engines_by_phase", phase="ready", vpn=vpn) == 1
        assert value(samples, "engines_by_phase", phase="starting", vpn=vpn) == 0
        runtime.kill(engine["container_id"])
        await supervisor.reconciler.tick()
        samples = await scrape(client)
        assert value(samples, "engines_by_phase", phase="container_stopped", vpn=vpn) == 1
        assert value(samples, "engines_by_phase", phase="ready", vpn=vpn) == 0


async def test_a_vpn_going_down_shows_and_refusals_say_why(
    open_client: Any, probes: Any, auth: dict[str, str]
) -> None:
    async with open_client("single") as client:
        supervisor = client.app.state.supervisor
        samples = await scrape(client)
        assert value(samples, "vpn_connected", vpn="gluetun") == 1
        assert value(samples, "vpn_forwarded_port", vpn="gluetun") == 5914
        assert all(
            value(samples, "provisioning_blocked", code=code) == 0
            for code in ("vpn_disconnected", "max_capacity")
        )
        probes.vpn_status = "stopped"
        await supervisor.vpn.tick()
        samples = await scrape(client)
        assert value(samples, "vpn_connected", vpn="gluetun") == 0
        assert ("ace_supervisor_vpn_forwarded_port", frozenset({("vpn", "gluetun")})) not in samples
        assert value(samples, "provisioning_blocked", code="vpn_disconnected") == 1
        assert value(samples, "events_total", type="vpn_down") == 1


async def test_the_breaker_and_the_docker_daemon_show_their_state(
    open_client: Any, runtime: FakeRuntime, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        samples = await scrape(client)
        assert value(samples, "circuit_breaker_state", state="closed") == 1
        assert value(samples, "docker_reachable") == 1
        runtime.fail_next_creates = 5
        for n in range(5):
            await client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=auth)
        samples = await scrape(client)
        assert value(samples, "circuit_breaker_state", state="open") == 1
        assert value(samples, "circuit_breaker_state", state="closed") == 0
        assert value(samples, "circuit_breaker_failures") == 5
        assert value(samples, "provisioning_blocked", code="circuit_breaker") == 1
        assert value(samples, "events_total", type="breaker_opened") == 1
        runtime.daemon_down = True
        await client.app.state.supervisor.reconciler.tick()
        samples = await scrape(client)
        assert value(samples, "docker_reachable") == 0
        assert value(samples, "provisioning_blocked", code="docker_unreachable") == 1


async def test_events_are_counted_by_type_and_every_type_is_there_from_the_start(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        assert value(await scrape(client), "events_total", type="stream_started") == 0
        port = (await client.post("/provision/acestream", headers=auth)).json()["host_http_port"]
        await client.post("/events/stream_started", json=started_event(port), headers=auth)
        samples = await scrape(client)
        assert value(samples, "events_total", type="engine_created") == 1
        assert value(samples, "events_total", type="stream_started") == 1


async def test_build_info_names_the_running_version(open_client: Any, monkeypatch: Any) -> None:
    async with open_client("standalone") as client:
        samples = await scrape(client)
        assert value(samples, "build_info", version=version(), revision="") == 1
    assert version() != "unknown"


def test_serve_prints_its_version_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings_for: Any
) -> None:
    """Before anything else, even when it then refuses to start (here: its database cannot be used)."""
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(settings_for("standalone").model_dump(mode="json")))
    for name, setting in {
        "ACE_SUPERVISOR_SETTINGS": str(settings),
        "SUPERVISOR_API_KEY": "k",
        "ACE_SUPERVISOR_DB_PATH": str(tmp_path / "supervisor.db"),
        "ACE_SUPERVISOR_PROJECT": "acestream-standalone",
        REVISION_ENV: "abc1234",
    }.items():
        monkeypatch.setenv(name, setting)
    import supervisor.app

    def refuse(config: Any) -> None:
        raise StoreError(f"{config.env.db_path}: written by a newer supervisor")

    monkeypatch.setattr(supervisor.app, "create_app", refuse)  # no Docker daemon needed to get this far
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"ace-supervisor {version()} (revision abc1234)"
    assert lines[1:] == [f"Error: {tmp_path / 'supervisor.db'}: written by a newer supervisor"]
