"""The Grafana dashboard (docs/grafana/) queries only what the supervisor exports.

Every PromQL expression of the dashboard is parsed with a real PromQL parser (promql-parser) and walked:
each metric it selects must be one a live /metrics scrape on the fake runtime shows (after provisions,
streams, a failure and a refusal, so labelled series exist), each label it matches, groups by, matches on
or shows in a legend must be one that metric (or that sub-expression's result) has, and each value it
matches exactly must be one the supervisor reports. A panel over a renamed metric or a wrong label fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser as promql
import pytest
from acexy_events import started_event
from prometheus_client.parser import text_string_to_metric_families

from supervisor.runtime.fake import FakeRuntime

pytestmark = pytest.mark.anyio

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "ace-supervisor.json"
# Grafana's interval variables stand where PromQL wants a duration; any other variable ($vpn) may only
# appear inside a string (a regex matcher), where the parser leaves it alone.
INTERVALS = re.compile(r"\$\{?__(rate_interval|interval|range)\}?")
LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
LABEL_VALUES = re.compile(
    r"^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$"
)

Exported = dict[str, dict[str, set[str]]]  # sample name -> label -> values seen


def exported_from(text: str) -> Exported:
    exported: Exported = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = exported.setdefault(sample.name, {})
            for name, value in sample.labels.items():
                labels.setdefault(name, set()).add(value)
    return exported


class Checker:
    """Walks one parsed expression; `labels` returns the labels its result carries (None: a scalar)."""

    def __init__(self, exported: Exported, where: str) -> None:
        self.exported = exported
        self.where = where
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(f"{self.where}: {message}")

    def labels(self, node: Any) -> set[str] | None:
        if isinstance(node, promql.VectorSelector):
            return self.selector(node)
        if isinstance(node, promql.MatrixSelector):
            return self.selector(node.vector_selector)
        if isinstance(node, promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr):
            return self.labels(node.expr)
        if isinstance(node, promql.NumberLiteral | promql.StringLiteral):
            return None
        if isinstance(node, promql.Call):
            return self.call(node)
        if isinstance(node, promql.AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, promql.BinaryExpr):
            return self.binary(node)
        self.problem(f"cannot check a {type(node).__name__}")
        return set()

    def selector(self, node: Any) -> set[str]:
        matchers = [*node.matchers.matchers, *(m for group in node.matchers.or_matchers for m in group)]
        name = node.name or next((m.value for m in matchers if m.name == "__name__"), None)
        if name not in self.exported:
            self.problem(f"metric {name!r} is not exported by the supervisor")
            return set()
        has = self.exported[name]
        for matcher in matchers:
            if matcher.name == "__name__":
                continue
            if matcher.name not in has:
                self.problem(f"{name} has no label {matcher.name!r} (it has {sorted(has) or 'none'})")
                continue
            if "$" in matcher.value:  # a dashboard variable: its values come from label_values
                continue
            seen = has[matcher.name]
            if matcher.op == promql.MatchOp.Equal and matcher.value and matcher.value not in seen:
                self.problem(
                    f'{name}{{{matcher.name}="{matcher.value}"}}: no such value (seen: {sorted(seen)})'
                )
            if matcher.op == promql.MatchOp.Re and not any(re.fullmatch(matcher.value, v) for v in seen):
                self.problem(f'{name}{{{matcher.name}=~"{matcher.value}"}}: matches no value {sorted(seen)}')
        return set(has)

    def call(self, node: Any) -> set[str] | None:
        args = [self.labels(arg) for arg in node.args]
        function = node.func.name
        if function == "histogram_quantile":
            buckets = args[1] or set()
            if "le" not in buckets:
                self.problem("histogram_quantile over series without an `le` label (sum by (le) ...?)")
            return buckets - {"le"}
        if function in ("label_replace", "label_join"):
            # label_replace(v, dst, replacement, src, regex); label_join(v, dst, separator, src...)
            source, target = args[0] or set(), node.args[1].val
            for read in node.args[3:4] if function == "label_replace" else node.args[3:]:
                if read.val not in source:
                    self.problem(f"{function} reads label {read.val!r}, which its input lacks")
            return source | {target}
        if function in ("vector", "time", "scalar"):
            return None if function != "vector" else set()
        return next((labels for labels in args if labels is not None), None)

    def aggregate(self, node: Any) -> set[str]:
        inner = self.labels(node.expr) or set()
        if node.param is not None:
            self.labels(node.param)
        modifier = node.modifier
        grouping = set(modifier.labels) if modifier is not None else set()
        for name in sorted(grouping - inner):
            self.problem(f"{node.op} groups by {name!r}, which its input lacks (it has {sorted(inner)})")
        if node.op in ("topk", "bottomk", "limitk", "limit_ratio"):
            return inner
        if modifier is None:
            return set()
        if modifier.type == promql.AggModifierType.Without:
            return inner - grouping
        return grouping

    def binary(self, node: Any) -> set[str] | None:
        left, right = self.labels(node.lhs), self.labels(node.rhs)
        if left is None or right is None:
            return right if left is None else left
        modifier = node.modifier
        matching = modifier.matching if modifier is not None else None
        operator = str(node.op)
        if matching is not None:
            names = set(matching.labels)
            include = matching.type == promql.LabelModifierType.Include
            for name in sorted(names):
                if (include and not (name in left and name in right)) or (name not in left | right):
                    self.problem(f"{operator} matches on {name!r}, which an operand lacks")
        if operator in ("and", "or", "unless"):
            return left | right if operator == "or" else left
        card = modifier.card if modifier is not None else None
        group = set(modifier.group_labels or ()) if modifier is not None else set()
        if card == promql.VectorMatchCardinality.ManyToOne:
            for name in sorted(group - right):
                self.problem(f"group_left takes {name!r}, which the right operand lacks")
            return left | group
        if card == promql.VectorMatchCardinality.OneToMany:
            for name in sorted(group - left):
                self.problem(f"group_right takes {name!r}, which the left operand lacks")
            return right | group
        if matching is None:
            if left != right:
                self.problem(
                    f"{operator}: operands carry different labels ({sorted(left)} vs {sorted(right)})"
                )
            return left
        if matching.type == promql.LabelModifierType.Include:
            return set(matching.labels)
        return left - set(matching.labels)


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, expression, legend) of every target, rows' nested panels included."""
    found = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                found.append(
                    (
                        f"panel {panel['title']!r} {target['refId']}",
                        target["expr"],
                        target.get("legendFormat", ""),
                    )
                )

    walk(dashboard["panels"])
    return found


def check(dashboard: dict[str, Any], exported: Exported) -> list[str]:
    problems: list[str] = []
    for where, expression, legend in queries(dashboard):
        checker = Checker(exported, where)
        try:
            tree = promql.parse(INTERVALS.sub("5m", expression))
        except Exception as error:  # the parser's own error type is not exported
            problems.append(f"{where}: {expression!r} does not parse: {error}")
            continue
        result = checker.labels(tree)
        for name in LEGEND_LABEL.findall(legend):
            if result is not None and name not in result:
                checker.problem(
                    f"legend shows {{{{{name}}}}}, which the result lacks (it has {sorted(result)})"
                )
        problems += checker.problems
    for variable in dashboard["templating"]["list"]:
        definition = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = LABEL_VALUES.match(definition)
        if match is None:
            problems.append(f"variable {variable['name']}: cannot check {definition!r}")
            continue
        metric, name = match.groups()
        if metric not in exported or name not in exported[metric]:
            problems.append(f"variable {variable['name']}: {metric} has no label {name!r}")
    return problems


@pytest.fixture
async def exported(open_client: Any, runtime: FakeRuntime, auth: dict[str, str]) -> Exported:
    """A scrape after activity: a standby, engines ready on both VPNs, a stream started and ended, a failed
    start and a refusal at max, and calls to the read routes."""
    async with open_client("redundant", max_replicas=3, standby=1) as client:
        supervisor = client.app.state.supervisor
        await supervisor.reconciler.tick()
        engines = [
            (await client.post("/provision/acestream", json={"labels": {"n": str(n)}}, headers=auth)).json()
            for n in range(2)
        ]
        await supervisor.readiness.tick()
        await supervisor.cache.tick()  # the engines' disk use, measured
        event = started_event(engines[0]["host_http_port"], labels={"stream_id": "s"})
        assert (await client.post("/events/stream_started", json=event, headers=auth)).status_code == 200
        ended = {"container_id": "acexy-7f3a", "stream_id": "s", "reason": "client_disconnected"}
        assert (await client.post("/events/stream_ended", json=ended, headers=auth)).status_code == 200
        runtime.fail_next_creates = 1
        assert (
            await client.post("/provision/acestream", json={"labels": {"n": "x"}}, headers=auth)
        ).status_code == 503
        await client.post("/provision/acestream", json={"labels": {"n": "2"}}, headers=auth)
        refused = await client.post("/provision/acestream", json={"labels": {"n": "3"}}, headers=auth)
        assert refused.json()["detail"]["code"] == "max_capacity"
        for route in ("/engines", "/orchestrator/status", "/nothing-here"):
            await client.get(route)
        return exported_from((await client.get("/metrics")).text)


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


async def test_every_query_of_the_dashboard_is_over_an_exported_metric_and_its_labels(
    exported: Exported,
) -> None:
    assert len(queries(load())) >= 25
    assert check(load(), exported) == []


async def test_the_dashboard_covers_what_an_operator_watches(exported: Exported) -> None:
    shown = {
        metric
        for _, expression, _ in queries(load())
        for metric in re.findall(r"ace_supervisor_\w+", expression)
    }
    for metric in (
        "engines_by_phase", "active_streams", "provision_attempts_total", "provision_duration_seconds_bucket",
        "vpn_connected", "circuit_breaker_state", "docker_reachable", "api_request_duration_seconds_bucket",
        "provisioning_blocked", "events_total",
    ):  # fmt: skip
        assert f"ace_supervisor_{metric}" in shown


async def test_a_renamed_metric_or_a_wrong_label_fails_the_check(exported: Exported) -> None:
    text = DASHBOARD.read_text()
    renamed = json.loads(text.replace("ace_supervisor_vpn_connected", "ace_supervisor_vpn_up"))
    assert any("'ace_supervisor_vpn_up' is not exported" in p for p in check(renamed, exported))
    wrong_label = json.loads(text.replace("sum by (phase)", "sum by (status)"))
    assert any("groups by 'status'" in p for p in check(wrong_label, exported))
    wrong_matcher = json.loads(text.replace('phase=\\"ready\\"', 'state=\\"ready\\"'))
    assert any("has no label 'state'" in p for p in check(wrong_matcher, exported))
    wrong_value = json.loads(text.replace('phase=\\"ready\\"', 'phase=\\"redy\\"'))
    assert any('phase="redy"' in p for p in check(wrong_value, exported))
    wrong_legend = json.loads(text.replace('"{{phase}}"', '"{{state}}"'))
    assert any("legend shows {{state}}" in p for p in check(wrong_legend, exported))
    # The supervisor renaming a metric fails it too.
    gone = {name: labels for name, labels in exported.items() if not name.startswith("ace_supervisor_docker")}
    assert any("ace_supervisor_docker_reachable" in p for p in check(load(), gone))


def test_the_checker_follows_labels_through_aggregations_and_vector_matching() -> None:
    exported: Exported = {
        "a_bucket": {"le": {"1"}, "route": {"/x"}},
        "b": {"vpn": {"v1"}, "state": {"up"}},
        "c": {"vpn": {"v1"}},
    }

    def problems(expression: str, legend: str = "") -> list[str]:
        dashboard = {
            "panels": [
                {"title": "t", "targets": [{"refId": "A", "expr": expression, "legendFormat": legend}]}
            ],
            "templating": {"list": []},
        }
        return check(dashboard, exported)

    assert (
        problems(
            "histogram_quantile(0.9, sum by (le, route) (rate(a_bucket[$__rate_interval])))", "{{route}}"
        )
        == []
    )
    assert problems("histogram_quantile(0.9, sum by (route) (rate(a_bucket[5m])))")  # le summed away
    assert problems("sum by (vpn) (b) / c") == []
    assert problems("sum by (state) (b) / c")  # different labels: nothing would match
    assert problems("b / on(vpn) group_left c") == []
    assert problems("b / on(route) c")
    assert problems("sum(b)", "{{vpn}}")  # the sum has no vpn label
    assert problems("sum without (state) (b)", "{{vpn}}") == []
    assert problems('b{state=~"do.*"}')  # matches no value the supervisor reports
    assert problems('label_replace(b, "x", "$1", "state", "(.*)")', "{{x}}") == []
    assert problems('label_replace(b, "x", "$1", "route", "(.*)")')


def test_the_dashboard_imports_anywhere() -> None:
    """Its datasource is an import input, every panel and target uses it, and panel ids are unique."""
    dashboard = load()
    assert [item["name"] for item in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels += [panel, *panel.get("panels", [])]
    assert len({panel["id"] for panel in panels}) == len(panels)
    expected = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == expected, panel["title"]
        assert all(target["datasource"] == expected for target in panel["targets"]), panel["title"]
    assert all(v["datasource"] == expected for v in dashboard["templating"]["list"] if v["type"] == "query")
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
