"""No profile value can change the rendered file's structure.

For every string field of a profile, an arbitrary string is either refused with a message naming that
field, or it lands in the rendered compose file as exactly one scalar where the template put it, while
the services and the keys of every service stay those of the same profile with a benign value.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from gen.hostile_profiles import INJECTED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from ruamel.yaml import YAML

from generator.errors import UserError
from generator.plan import build_plan
from generator.profile import Profile, format_validation_error
from generator.render import render_plan

BASE: dict[str, Any] = {
    "stack": "t",
    "mode": "redundant",
    "engine": {"variant": None, "image": "me/engine:1", "port_style": "conf"},
    "ports": {"engine_http": "11000-11019", "host_ip": "127.0.0.1"},
    "supervisor": {"api_key_env": "SUPERVISOR_API_KEY", "image": "me/supervisor:1"},
    "docker": {"socket": "/var/run/docker.sock"},
    "vpns": [
        {
            "name": "vpn-a",
            "image": "qmcgaw/gluetun:v3.41.1",
            "env_file": "./a.env",
            "control_api_key_env": "KEY_A",
        },
        {"name": "vpn-b", "engine_http": None},
    ],
}
Document = dict[str, Any]


def _settings(doc: Document) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(doc["configs"]["supervisor-settings"]["content"])
    return loaded


def _supervisor(doc: Document) -> dict[str, Any]:
    service: dict[str, Any] = doc["services"]["supervisor"]
    return service


# field -> (the profile path, where the rendered file must hold the value exactly)
FIELDS: dict[str, tuple[tuple[str | int, ...], Callable[[Document, str], bool]]] = {
    "stack": (("stack",), lambda d, v: d["name"] == v and _settings(d)["stack"] == v),
    "mode": (("mode",), lambda d, v: _settings(d)["mode"] == v),
    "engine.variant": (("engine", "variant"), lambda d, v: True),  # an enum: only its own values pass
    "engine.image": (("engine", "image"), lambda d, v: _settings(d)["engine"]["image"] == v),
    "engine.port_style": (("engine", "port_style"), lambda d, v: _settings(d)["engine"]["port_style"] == v),
    "ports.engine_http": (("ports", "engine_http"), lambda d, v: True),  # a range: numbers, checked below
    "ports.host_ip": (
        ("ports", "host_ip"),
        lambda d, v: (
            _supervisor(d)["ports"][0].startswith((f"{v}:", f"[{v}]:")) and _settings(d)["host_ip"] == v
        ),
    ),
    "supervisor.api_key_env": (
        ("supervisor", "api_key_env"),
        lambda d, v: _supervisor(d)["environment"][v].startswith(f"${{{v}:?"),
    ),
    "supervisor.image": (("supervisor", "image"), lambda d, v: _supervisor(d)["image"] == v),
    "docker.socket": (("docker", "socket"), lambda d, v: _supervisor(d)["volumes"][0]["source"] == v),
    "vpns[0].name": (("vpns", 0, "name"), lambda d, v: v in d["services"]),
    "vpns[0].image": (("vpns", 0, "image"), lambda d, v: d["services"]["vpn-a"]["image"] == v),
    "vpns[0].env_file": (
        ("vpns", 0, "env_file"),
        lambda d, v: d["services"]["vpn-a"]["env_file"][0]["path"] == f"${{VPN_A_ENV_FILE:-{v}}}",
    ),
    "vpns[0].control_api_key_env": (
        ("vpns", 0, "control_api_key_env"),
        lambda d, v: v in _supervisor(d)["environment"],
    ),
    "vpns[1].engine_http": (("vpns", 1, "engine_http"), lambda d, v: True),  # a range, as above
}

NASTY = [
    INJECTED,
    "x\n    privileged: true",
    "x'\nprivileged: true\n'",
    'x"\nprivileged: true\n"',
    "${PATH}",
    "$$",
    "a}b",
    "a #comment",
    "- item",
    "&anchor x",
    "*alias",
    "!!python/object x",
    "{a: 1}",
    "[1, 2]",
    "key: value",
    "\u2028privileged: true",
    "\x85x",
    "",
    " ",
    "127.0.0.1:8000:8000\n    privileged: true",
    "__gen_value_0__",
    "x__gen_value_3__y",
    "/var/run/docker.sock\n      - /:/host",
    "qmcgaw/gluetun:v3.41.1",
    "SUPERVISOR_API_KEY",
    "::1",
]
values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=80),
    st.from_regex(r"[a-zA-Z0-9._/:@${}\- \n'\"#]{1,40}", fullmatch=True),
)


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def _render(data: dict[str, Any]) -> tuple[Document, str]:
    """The rendered compose document and .env.example, or UserError with the message a user would see."""
    try:
        profile = Profile.model_validate(data)
    except ValidationError as error:
        raise UserError(format_validation_error("p.yaml", error)) from None
    plan = build_plan(profile, "p", "p.yaml")
    from pathlib import Path

    rendered = render_plan(plan, "p", "p.yaml", Path("/nonexistent/out"), "gen render --profile p")
    return YAML(typ="safe", pure=True).load(rendered.files["compose.yaml"]), rendered.files[".env.example"]


def _shape(doc: Document) -> dict[str, set[str]]:
    return {name: set(service) for name, service in doc["services"].items()} | {"(top)": set(doc)}


BASE_DOC, BASE_ENV = _render(BASE)
ENV_LINE = re.compile(r"^(#.*|[A-Z_][A-Z0-9_]*=[A-Za-z0-9._/@+:-]*|)$")


@pytest.mark.parametrize("field", list(FIELDS))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values)
def test_a_value_is_refused_naming_its_field_or_lands_as_one_scalar(field: str, value: str) -> None:
    path, holds = FIELDS[field]
    data = _set(BASE, path, value)
    if field == "vpns[0].name":  # the VPN's name is also the key the checks look it up by
        data["vpns"][0]["control_api_key_env"] = "KEY_A"
    try:
        doc, env_example = _render(data)
    except UserError as error:
        message = str(error)
        assert field in message, message
        assert "Traceback" not in message and len(message) < 2000
        return
    expected = _shape(BASE_DOC)
    if field == "vpns[0].name":
        expected[value] = expected.pop("vpn-a")
    assert _shape(doc) == expected
    assert holds(doc, value), (field, value)
    # Nothing from the profile reaches Compose's interpolation, and .env.example keeps its line shapes.
    if field not in ("supervisor.api_key_env", "vpns[0].control_api_key_env", "vpns[0].env_file"):
        assert "$" not in value
    assert all(ENV_LINE.match(line) for line in env_example.splitlines()), env_example


def test_the_issues_injections_are_refused_with_the_field() -> None:
    for field, value in [
        ("vpns[0].image", INJECTED),
        ("vpns[0].env_file", "./g.env\n    privileged: true\n    pid: host"),
        ("ports.host_ip", "127.0.0.1\n    privileged: true"),
    ]:
        with pytest.raises(UserError, match=re.escape(field)):
            _render(_set(BASE, FIELDS[field][0], value))


def test_the_base_profile_renders_its_values() -> None:
    for field, (path, holds) in FIELDS.items():
        value: Any = BASE
        for part in path:
            value = value[part]
        if isinstance(value, str):
            assert holds(BASE_DOC, value), field
