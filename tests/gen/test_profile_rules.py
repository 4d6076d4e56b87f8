"""Every rule of the plan refuses its bad case through the CLI, naming the field, the numbers and the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from gen.conftest import RunGen, WriteProfile
from gen.profiles_data import REDUNDANT, SINGLE, STANDALONE


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return data


BAD = {
    "mode needs more VPNs": (
        changed(SINGLE, mode="redundant"),
        ["vpns: mode 'redundant' needs 2 VPN(s), the profile lists 1", "change mode"],
    ),
    "standalone with a VPN": (changed(SINGLE, mode="standalone"), ["vpns: mode 'standalone' needs 0 VPN(s)"]),
    "duplicate VPN names": (
        changed(REDUNDANT, vpns=[{"name": "same"}, {"name": "same"}]),
        ["vpns[1].name: 'same' is already a service name", "unique name"],
    ),
    "VPN named like the supervisor": (
        changed(SINGLE, vpns=[{"name": "supervisor"}]),
        ["vpns[0].name: 'supervisor' is already a service name"],
    ),
    "range smaller than max": (
        changed(STANDALONE, replicas={"max": 25}),
        ["ports.engine_http: 11000-11019 gives 20 ports", "replicas.max is 25", "11000-11024"],
    ),
    "redundant split too small": (
        changed(REDUNDANT, replicas={"max": 12}),
        [
            "ports.engine_http: 11000-11009 gives 10 ports",
            "each VPN must hold every engine",
            "at least 24 ports",
        ],
    ),
    "explicit VPN ranges overlap": (
        changed(
            REDUNDANT,
            replicas={"max": 5},
            vpns=[{"name": "a", "engine_http": "11000-11009"}, {"name": "b", "engine_http": "11005-11014"}],
        ),
        ["vpns[0].engine_http: 11000-11009 overlaps vpns[1].engine_http 11005-11014 in the host"],
    ),
    "explicit range outside the total": (
        changed(SINGLE, vpns=[{"name": "a", "engine_http": "50000-50019"}]),
        ["vpns[0].engine_http: 50000-50019 lies outside ports.engine_http 11000-11019"],
    ),
    "some explicit ranges only": (
        changed(REDUNDANT, vpns=[{"name": "a", "engine_http": "11000-11009"}, {"name": "b"}]),
        ["vpns[].engine_http: given for some VPNs but not all"],
    ),
    "port above 65535": (
        changed(STANDALONE, ports={"engine_http": "65530-65600"}),
        ["ports.engine_http.last", "less than or equal to 65535"],
    ),
    "reversed range": (
        changed(STANDALONE, ports={"engine_http": "11019-11000"}),
        ["write it as 11000-11019"],
    ),
    "not a range": (changed(STANDALONE, ports={"engine_http": "lots"}), ["expected a port range like"]),
    "https offset beyond 65535": (
        changed(SINGLE, ports={"engine_http": "64000-64019", "https_offset": 2000}),
        ["ports.https_offset: HTTPS ports 66000-66019", "outside 1-65535"],
    ),
    "p2p overlaps https": (
        changed(SINGLE, ports={"engine_http": "11000-11019", "https_offset": 100, "p2p_offset": 110}),
        ["ports.https_offset: 11100-11119 overlaps ports.p2p_offset 11110-11129", "network namespace of VPN"],
    ),
    "supervisor port inside the engines": (
        changed(STANDALONE, ports={"engine_http": "11000-11019", "supervisor": 11005}),
        ["ports.engine_http: 11000-11019 contains ports.supervisor 11005 in the host"],
    ),
    "control port inside the engines": (
        changed(SINGLE, vpns=[{"name": "vpn-a", "control_port": 11010}]),
        [
            "ports.engine_http: 11000-11019 contains vpns[0].control_port 11010",
            "network namespace of VPN 'vpn-a'",
        ],
    ),
    "gluetun's own port inside the engines": (
        changed(SINGLE, ports={"engine_http": "9990-10009"}),
        ["contains gluetun's health server port 9999"],
    ),
    "min above max": (
        changed(STANDALONE, replicas={"min": 11, "max": 10}),
        ["replicas.min: 11 exceeds replicas.max 10"],
    ),
    "min_free above max": (
        changed(STANDALONE, replicas={"min_free": 11, "max": 10}),
        ["replicas.min_free: 11 exceeds replicas.max 10"],
    ),
    "unpinned gluetun": (
        changed(SINGLE, vpns=[{"name": "a", "image": "qmcgaw/gluetun:latest"}]),
        ["vpns[0].image", "pin the gluetun image to a version"],
    ),
    "unknown key": (
        changed(STANDALONE, ports={"engine_http": "11000-11019", "engnie_https": 1}),
        [
            "ports.engnie_https: unknown key; allowed here: "
            "engine_http, host_ip, https_offset, p2p_offset, supervisor"
        ],
    ),
    "unknown top-level key": (
        changed(STANDALONE, replica={"max": 3}),
        ["replica: unknown key; allowed here:", "replicas"],
    ),
    "missing required key": (
        {"stack": "t", "mode": "standalone"},
        ["ports: required; add it to the profile"],
    ),
    "bad mode": (
        changed(STANDALONE, mode="triple"),
        ["mode: Input should be 'standalone', 'single' or 'redundant'"],
    ),
    "bad stack name": (changed(STANDALONE, stack="My Stack"), ["stack: String should match pattern"]),
    "variant-less engine without style": (
        changed(STANDALONE, engine={"variant": None, "image": "me/engine:1"}),
        ["give both engine.image and engine.port_style"],
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_profile_is_refused_with_a_clear_message(
    case: str, run_gen: RunGen, write_profile: WriteProfile, tmp_path: Path
) -> None:
    data, expected = BAD[case]
    result = run_gen("render", "--profile", str(write_profile(data)), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    for fragment in expected:
        assert fragment in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists(), "nothing is written for a bad profile"


def test_yaml_syntax_error_names_file_and_line(run_gen: RunGen, write_profile: WriteProfile) -> None:
    path = write_profile("stack: t\nmode: standalone\nports:\n  engine_http: [11000\n")
    result = run_gen("render", "--profile", str(path))
    assert result.exit_code == 1
    assert f"{path}:5:" in result.output and "YAML syntax error" in result.output


def test_missing_profile_lists_the_shipped_ones(run_gen: RunGen) -> None:
    result = run_gen("render", "--profile", "nope")
    assert result.exit_code == 1
    assert "no profile 'nope' in profiles/; choose one of: redundant, single, standalone" in result.output


def test_missing_profile_file(run_gen: RunGen, tmp_path: Path) -> None:
    result = run_gen("render", "--profile", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 1 and "not found" in result.output


def test_extends_missing_and_looping(run_gen: RunGen, write_profile: WriteProfile) -> None:
    missing = write_profile("extends: gone.yaml\nstack: t\n", "a.yaml")
    result = run_gen("render", "--profile", str(missing))
    assert result.exit_code == 1 and "extends: 'gone.yaml' not found" in result.output
    write_profile("extends: c.yaml\n", "b.yaml")
    looping = write_profile("extends: b.yaml\n", "c.yaml")
    result = run_gen("render", "--profile", str(looping))
    assert result.exit_code == 1 and "loops back on itself" in result.output


def test_render_needs_exactly_one_target(run_gen: RunGen) -> None:
    assert "give either --profile NAME or --all" in run_gen("render").output
    assert "give either --profile NAME or --all" in run_gen("render", "--all", "--profile", "single").output
