"""Start-up settings: rendered stacks load; a bad or missing setting stops start-up naming the variable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from supervisor.cli import main
from supervisor.settings import ConfigError, load_config
from supervisor.stack_settings import SETTINGS_CONFIG_NAME, StackSettings

GENERATED = Path(__file__).resolve().parents[2] / "generated"


def rendered_settings(profile: str) -> str:
    compose = YAML(typ="safe").load((GENERATED / profile / "compose.yaml").read_text())
    content: str = compose["configs"][SETTINGS_CONFIG_NAME]["content"]
    return content


def environment(settings_file: Path, stack: StackSettings, **extra: str) -> dict[str, str]:
    env = {"ACE_SUPERVISOR_SETTINGS": str(settings_file), stack.api_key_env: "k"}
    env |= {vpn.control_api_key_env: "v" for vpn in stack.vpns}
    return env | extra


@pytest.mark.parametrize("profile", sorted(path.name for path in GENERATED.iterdir() if path.is_dir()))
def test_every_rendered_stack_gives_a_valid_supervisor_config(profile: str, tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(rendered_settings(profile))
    stack = StackSettings.model_validate_json(settings_file.read_text())
    config = load_config(environment(settings_file, stack))
    assert config.api_key == "k" and config.listen_port == stack.supervisor_port
    assert set(config.vpn_api_keys) == {vpn.service for vpn in stack.vpns}
    assert str(config.env.db_path) == "/data/supervisor.db"


@pytest.fixture
def redundant(tmp_path: Path) -> tuple[Path, StackSettings]:
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(rendered_settings("redundant"))
    return settings_file, StackSettings.model_validate_json(settings_file.read_text())


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SUPERVISOR_API_KEY": ""}, "SUPERVISOR_API_KEY"),
        ({"GLUETUN_2_API_KEY": ""}, "GLUETUN_2_API_KEY"),
        ({"ACE_SUPERVISOR_MAX_IN_FLIGHT": "lots"}, "ACE_SUPERVISOR_MAX_IN_FLIGHT"),
        ({"ACE_SUPERVISOR_LOG_LEVEL": "loud"}, "ACE_SUPERVISOR_LOG_LEVEL"),
        ({"ACE_SUPERVISOR_SETTINGS": "/nowhere/settings.json"}, "ACE_SUPERVISOR_SETTINGS"),
    ],
)
def test_a_bad_setting_is_named(
    redundant: tuple[Path, StackSettings], change: dict[str, str], named: str
) -> None:
    env = environment(*redundant) | change
    with pytest.raises(ConfigError, match=named):
        load_config(env)


def test_no_key_is_allowed_only_with_the_insecure_flag(redundant: tuple[Path, StackSettings]) -> None:
    env = environment(*redundant, SUPERVISOR_API_KEY="", ACE_SUPERVISOR_INSECURE_NO_AUTH="true")
    assert load_config(env).api_key is None


def test_a_broken_settings_file_is_named(tmp_path: Path, redundant: tuple[Path, StackSettings]) -> None:
    data: dict[str, Any] = json.loads(redundant[0].read_text())
    data["replicas"]["max"] = 0
    redundant[0].write_text(json.dumps(data))
    with pytest.raises(
        ConfigError, match=r"ACE_SUPERVISOR_SETTINGS: .*replicas\.max: Input should be greater"
    ):
        load_config(environment(*redundant))


def test_serve_refuses_to_start_without_a_key(
    redundant: tuple[Path, StackSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment(*redundant, SUPERVISOR_API_KEY="").items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "SUPERVISOR_API_KEY" in result.output and "INSECURE_NO_AUTH" in result.output


def test_healthcheck_fails_when_nothing_answers(
    redundant: tuple[Path, StackSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACE_SUPERVISOR_SETTINGS", str(redundant[0]))
    monkeypatch.setenv("ACE_SUPERVISOR_PORT", "1")
    result = CliRunner().invoke(main, ["healthcheck"])
    assert result.exit_code == 1 and "unhealthy" in result.output


POINT_AT_IT = "; point ACE_SUPERVISOR_SETTINGS at the"


def write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("make", "says", "fix"),
    [
        (lambda tmp: tmp, "is a directory, not the settings file", POINT_AT_IT),
        (lambda tmp: write_bytes(tmp / "s.json", b"\xff\xfe{"), "is not UTF-8 text", POINT_AT_IT),
        (lambda tmp: write_bytes(tmp / "s.json", b"stack: yaml"), "is not JSON (expected", POINT_AT_IT),
        (
            lambda tmp: write_bytes(tmp / "s.json", b"[]"),
            "file: Input should be an object",
            "render the stack again",
        ),
    ],
    ids=["directory", "not-utf8", "not-json", "not-an-object"],
)
@pytest.mark.parametrize("command", ["serve", "healthcheck"])
def test_a_settings_file_that_cannot_be_read_stops_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[Path], Path],
    says: str,
    fix: str,
    command: str,
) -> None:
    path = make(tmp_path)
    monkeypatch.setenv("ACE_SUPERVISOR_SETTINGS", str(path))
    assert_one_line_stop(command, f"Error: ACE_SUPERVISOR_SETTINGS: {path} ", says, fix)


@pytest.mark.parametrize("command", ["serve", "healthcheck"])
def test_an_unreadable_settings_file_stops_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    path = write_bytes(tmp_path / "settings.json", b"{}")
    read_text = Path.read_text

    def refuse(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == path:
            raise PermissionError(13, "Permission denied", str(path))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)  # as chmod 000 would, but also when tests run as root
    monkeypatch.setenv("ACE_SUPERVISOR_SETTINGS", str(path))
    assert_one_line_stop(
        command, f"Error: ACE_SUPERVISOR_SETTINGS: {path} ", "not readable", "make it readable"
    )


def assert_one_line_stop(command: str, starts: str, says: str, fix: str) -> None:
    """The command exits 1 with one line naming the variable, the path, the problem and the fix."""
    result = CliRunner().invoke(main, [command], catch_exceptions=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts), result.output
    assert says in lines[0] and fix in lines[0], result.output
