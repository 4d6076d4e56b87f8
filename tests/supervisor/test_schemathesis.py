"""Schemathesis against the schema the app serves, in process on the fake runtime (no Docker, no network).

Every check (`--checks all`: status codes, bodies and headers as documented, valid data accepted and
invalid data refused, auth enforced, 405 with Allow for other methods, nothing readable after a DELETE)
and every phase: the schema's examples, its coverage cases, fuzzing, and stateful sequences through the
schema's links (a provision's engine is read, removed and streamed on; a started stream is read, stopped,
ended and deleted). With the key, without it, and with none configured (every route open); in standalone
mode and in redundant mode (two VPNs).

The only 5xx allowed is the documented 503 refusal (`{"detail": {"error": "provisioning_blocked", ...}}`):
the fake runtime never fails, so any other is a bug. The run is derandomized with a fixed seed and no
example database, so it explores the same inputs every time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.engine import Status, events, from_schema
from schemathesis.generation.case import Case
from schemathesis.python import asgi

from supervisor.app import create_app
from supervisor.runtime.fake import FakeRuntime

MAX_EXAMPLES = 25  # per operation and phase: about 20-45 s a run on the CI machine


@schemathesis.check
def refusals_are_the_only_server_errors(ctx: Any, response: Response, case: Case) -> bool | None:
    if response.status_code < 500:
        return None
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if (
        response.status_code != 503
        or not isinstance(detail, dict)
        or detail.get("error") != "provisioning_blocked"
    ):
        raise AssertionError(
            f"a {response.status_code} that is no provisioning refusal: {response.text[:300]}"
        )
    return None


def _config(api_key: str | None) -> SchemathesisConfig:
    settings: dict[str, Any] = {
        "seed": 20261204,
        "cache": {"enabled": False},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # `all` checks (the default); the 503 refusal is documented, so not counted as a server error.
        "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
    }
    if api_key is not None:
        settings["auth"] = {"openapi": {"bearer": {"bearer": api_key}, "apiKey": {"api_key": api_key}}}
    return SchemathesisConfig.from_dict(settings)


def _problems(schema: Any) -> list[str]:
    """Everything that would make `schemathesis run` fail, one line each (the first of each kind)."""
    found: dict[tuple[str, str], str] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status is Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        key = (f"{event.recorder.label} {check.name}", failure.title)
                        found.setdefault(key, failure.message.replace("\n", " ")[:400])
        elif isinstance(event, events.PhaseFinished) and event.status is Status.ERROR:
            found.setdefault((f"phase {event.phase.name}", "error"), str(event.payload))
        elif isinstance(event, events.NonFatalError):
            found.setdefault((event.label, "error"), str(event.value)[:400])
        elif isinstance(event, events.FatalError):
            found.setdefault(("run", "fatal"), repr(event.exception))
        elif isinstance(event, events.EngineFinished):
            for failure in event.failures:
                found.setdefault((failure.operation or "run", failure.title), failure.message[:400])
    return [f"{where}: {title}: {message}" for (where, title), message in found.items()]


@pytest.mark.parametrize(
    ("mode", "key"),
    [
        ("standalone", "sent"),
        ("standalone", "not sent"),
        ("standalone", "none configured"),  # ACE_SUPERVISOR_INSECURE_NO_AUTH: no route declares a key
        ("standalone", "not sent, read-only views"),  # ACE_SUPERVISOR_DASHBOARD_READ_ONLY: GETs open
        ("redundant", "sent"),
    ],
)
def test_schemathesis_finds_nothing(
    mode: str,
    key: str,
    settings_for: Callable[..., Any],
    config_for: Callable[..., Any],
    runtime: FakeRuntime,
    probes: Any,
    api_key: str,
    gluetuns_for: Callable[..., None],
) -> None:
    settings = settings_for(mode)
    gluetuns_for(runtime, settings)
    if key == "none configured":
        config = config_for(settings, None, insecure_no_auth=True)
    elif key.endswith("read-only views"):
        config = config_for(settings, dashboard_read_only=True)
    else:
        config = config_for(settings)
    app = create_app(config, runtime, probes=probes, loops=False)
    credentials = api_key if key == "sent" else None
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=_config(credentials))
    try:
        problems = _problems(schema)
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan (started by schemathesis's client) ends here
    assert not problems, "\n".join(problems)
