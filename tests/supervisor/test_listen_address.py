"""Where the supervisor listens: ACE_SUPERVISOR_BIND, else the stack's host_ip, else every address; and the
healthcheck calls the address the server listens on."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

import supervisor.app
from supervisor.cli import main
from supervisor.runtime.fake import FakeRuntime
from supervisor.settings import ConfigError, load_config
from supervisor.stack_settings import StackSettings


@pytest.fixture
def environ_for(tmp_path: Path, settings_for: Callable[..., StackSettings]) -> Callable[..., dict[str, str]]:
    """The environment of a standalone stack whose settings publish on `host_ip`, plus `extra`."""

    def build(host_ip: str | None, **extra: str) -> dict[str, str]:
        stack = settings_for("standalone").model_copy(update={"host_ip": host_ip})
        settings_file = tmp_path / "settings.json"
        settings_file.write_text(json.dumps(stack.model_dump(mode="json")))
        return {"ACE_SUPERVISOR_SETTINGS": str(settings_file), stack.api_key_env: "k", **extra}

    return build


def use_environment(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    """Run the CLI with exactly these ACE_SUPERVISOR_* variables (and the keys in `environ`)."""
    for name in list(os.environ):
        if name.startswith("ACE_SUPERVISOR_"):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("host_ip", "bind", "listens_on"),
    [
        (None, None, "0.0.0.0"),
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "0.0.0.0", "0.0.0.0"),  # the container's override: publishing is Docker's job
        (None, "::", "::"),
        (None, " 192.168.1.5 ", "192.168.1.5"),
    ],
)
def test_listen_host_is_the_override_else_the_stacks_host_ip(
    environ_for: Callable[..., dict[str, str]], host_ip: str | None, bind: str | None, listens_on: str
) -> None:
    extra = {} if bind is None else {"ACE_SUPERVISOR_BIND": bind}
    assert load_config(environ_for(host_ip, **extra)).listen_host == listens_on


@pytest.mark.parametrize("bind", ["localhost", "0.0.0.0:8000", "", "[::1]"])
def test_a_bind_that_is_not_an_ip_address_is_named(
    environ_for: Callable[..., dict[str, str]], bind: str
) -> None:
    with pytest.raises(ConfigError, match=r"^ACE_SUPERVISOR_BIND: .* is not an IP address; set an address"):
        load_config(environ_for(None, ACE_SUPERVISOR_BIND=bind))


@pytest.mark.parametrize(
    ("host_ip", "bind", "host"), [("127.0.0.1", None, "127.0.0.1"), (None, "::1", "::1")]
)
def test_serve_binds_the_listen_host(
    environ_for: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    host_ip: str | None,
    bind: str | None,
    host: str,
) -> None:
    use_environment(
        monkeypatch, environ_for(host_ip, **({} if bind is None else {"ACE_SUPERVISOR_BIND": bind}))
    )
    calls: list[dict[str, Any]] = []
    made: list[Any] = []
    real_create_app = supervisor.app.create_app

    def create_app(config: Any) -> Any:
        made.append(real_create_app(config, FakeRuntime()))
        return made[-1]

    monkeypatch.setattr(supervisor.app, "create_app", create_app)

    def run(server: uvicorn.Server, sockets: Any = None) -> None:
        calls.append({"app": server.config.app, "host": server.config.host, "port": server.config.port})

    monkeypatch.setattr(uvicorn.Server, "run", run)
    result = CliRunner().invoke(main, ["serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [(call["app"], call["host"], call["port"]) for call in calls] == [(made[0], host, 8000)]


class _Answer:
    status = 200

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize(
    ("host_ip", "bind", "url"),
    [
        (None, None, "http://127.0.0.1:8000/health"),
        (None, "0.0.0.0", "http://127.0.0.1:8000/health"),
        ("127.0.0.1", None, "http://127.0.0.1:8000/health"),
        ("192.168.1.5", None, "http://192.168.1.5:8000/health"),
        (None, "::", "http://[::1]:8000/health"),
        (None, "fd00::5", "http://[fd00::5]:8000/health"),
    ],
)
def test_healthcheck_calls_the_address_the_server_listens_on(
    environ_for: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    host_ip: str | None,
    bind: str | None,
    url: str,
) -> None:
    use_environment(
        monkeypatch, environ_for(host_ip, **({} if bind is None else {"ACE_SUPERVISOR_BIND": bind}))
    )
    called: list[str] = []

    def answer(url: str, timeout: float) -> _Answer:
        called.append(url)
        return _Answer()

    monkeypatch.setattr("urllib.request.urlopen", answer)
    result = CliRunner().invoke(main, ["healthcheck"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert called == [url]
