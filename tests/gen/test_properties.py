"""Property tests: any valid profile renders a stack that validates; any inconsistent range is caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from generator.plan import Plan, PlanError, build_plan
from generator.profile import Profile
from generator.render import render_plan
from generator.validate import validate_file
from generator.yaml_io import dump_yaml, load_yaml_text

VPNS = {"standalone": 0, "single": 1, "redundant": 2}


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    mode = draw(st.sampled_from(list(VPNS)))
    count = VPNS[mode]
    maximum = draw(st.integers(1, 40))
    per_pool = maximum + draw(st.integers(0, 30))
    # Below Linux's ephemeral ports (32768-60999), which the plan refuses.
    first = draw(st.integers(1024, 30000 - per_pool * max(count, 1)))
    data: dict[str, Any] = {
        "stack": draw(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)),
        "mode": mode,
        "replicas": {"max": maximum, "min": draw(st.integers(0, maximum))},
        "ports": {
            "engine_http": f"{first}-{first + per_pool * max(count, 1) - 1}",
            "supervisor": draw(st.integers(1, 32767)),
        },
        "vpns": [{"name": f"vpn-{i}", "control_port": draw(st.integers(1, 32767))} for i in range(count)],
    }
    return Profile.model_validate(data)


def plan_or_reject(profile: Profile) -> Plan:
    try:
        return build_plan(profile, "prop", "prop.yaml")
    except PlanError:
        assume(False)
        raise


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profile=profiles())
def test_any_valid_profile_renders_a_stack_that_validates(profile: Profile, tmp_path: Path) -> None:
    plan = plan_or_reject(profile)
    rendered = render_plan(plan, "prop", "prop.yaml", tmp_path, "gen render --profile prop")
    path = tmp_path / "compose.yaml"
    path.write_text(rendered.files["compose.yaml"])
    assert validate_file(path) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profile=profiles(), data=st.data())
def test_any_range_change_that_breaks_consistency_is_caught(
    profile: Profile, data: st.DataObject, tmp_path: Path
) -> None:
    plan = plan_or_reject(profile)
    rendered = render_plan(plan, "prop", "prop.yaml", tmp_path, "gen render --profile prop")
    document = load_yaml_text(rendered.files["compose.yaml"], "rendered")
    settings_doc = json.loads(document["configs"]["supervisor-settings"]["content"])
    if plan.settings.vpns:
        index = data.draw(st.integers(0, len(plan.settings.vpns) - 1))
        vpn = plan.settings.vpns[index]
        http = vpn.engine_ports.http
        how = data.draw(st.sampled_from(["shrink published", "shift published", "grow settings"]))
        if how == "grow settings":
            settings_doc["vpns"][index]["engine_ports"]["http"]["last"] = http.last + data.draw(
                st.integers(1, 50)
            )
        else:
            cut = data.draw(st.integers(1, len(http)))
            first, last = (
                (http.first, http.last - cut)
                if how == "shrink published"
                else (http.first + cut, http.last + cut)
            )
            document["services"][vpn.service]["ports"] = (
                [f"{first}-{last}:{first}-{last}"] if last >= first else []
            )
        culprit = vpn.service
    else:
        assert plan.settings.standalone_http is not None
        port = data.draw(st.integers(plan.settings.standalone_http.first, plan.settings.standalone_http.last))
        document["services"]["supervisor"]["ports"] = [f"{port}:{plan.settings.supervisor_port}"]
        culprit = "supervisor"
    document["configs"]["supervisor-settings"]["content"] = json.dumps(settings_doc)
    path = tmp_path / "compose.yaml"
    path.write_text(dump_yaml(document))
    problems = validate_file(path)
    assert any(problem.startswith(f"service {culprit}: ports:") for problem in problems), problems
