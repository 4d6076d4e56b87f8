"""A stack lives in a directory of the user's own: gen reads and writes there, never in the clone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gen.conftest import GENERATED_DIR, REPO, gen_in
from ruamel.yaml import YAML

GEN = str(Path(sys.executable).with_name("gen"))


def gen(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GEN, *args], cwd=cwd, capture_output=True, text=True)


def _clone_generated() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text() for p in sorted(GENERATED_DIR.rglob("*")) if p.is_file()}


def test_render_from_the_users_directory_writes_there_and_leaves_the_clone_alone(tmp_path: Path) -> None:
    before = _clone_generated()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "my.yaml").write_text("extends: builtin:single\nstack: mine\n")
    result = gen(tmp_path, "render", "--profile", str(tmp_path / "profiles" / "my.yaml"))
    assert result.returncode == 0, result.stderr
    assert "wrote generated/my/compose.yaml" in result.stdout
    assert (
        YAML(typ="safe").load((tmp_path / "generated" / "my" / "compose.yaml").read_text())["name"] == "mine"
    )
    assert not (GENERATED_DIR / "my").exists() and _clone_generated() == before
    assert gen(REPO, "check").returncode == 0  # the clone's own check is unaffected
    mine = gen(tmp_path, "check")
    assert mine.returncode == 0, mine.stderr
    assert "matches 1 profiles" in mine.stdout


def test_check_in_the_users_directory_checks_that_directory(tmp_path: Path) -> None:
    assert gen_in(tmp_path, "init", "stack", "--mode", "standalone").exit_code == 0
    stack = tmp_path / "stack"
    compose = stack / "generated" / "standalone" / "compose.yaml"
    compose.write_text(compose.read_text().replace('"8000:8000"', '"8000:9000"'))
    result = gen(stack, "check")
    assert result.returncode == 1
    assert "generated/standalone/compose.yaml (on disk)" in result.stderr
    assert str(REPO) not in result.stderr  # nothing of the clone is judged


def test_init_scaffolds_a_stack_directory_that_checks_and_explains(tmp_path: Path) -> None:
    result = gen_in(tmp_path, "init", "My Stack", "--mode", "redundant")
    assert result.exit_code == 0, result.output
    stack = tmp_path / "My Stack"
    profile = (stack / "profiles" / "redundant.yaml").read_text()
    assert "extends: builtin:redundant" in profile and "stack: my-stack" in profile
    ignored = (stack / ".gitignore").read_text().splitlines()
    assert "generated/*/.env" in ignored and "generated/*/*.env" in ignored
    assert "gen up redundant" in (stack / "README.md").read_text()
    assert (stack / "generated" / "redundant" / ".env.example").is_file()
    assert gen(stack, "check").returncode == 0
    explained = gen(stack, "explain", "--profile", "redundant")
    assert "stack 'my-stack', mode redundant" in explained.stdout
    again = gen_in(tmp_path, "init", "My Stack", "--mode", "redundant")
    assert again.exit_code == 1 and "exists already" in again.output


def test_dash_c_resolves_paths_against_the_stack_directory(tmp_path: Path) -> None:
    assert gen_in(tmp_path, "init", "s", "--mode", "single").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    validated = gen(elsewhere, "-C", "../s", "validate", "generated/single/compose.yaml")
    assert validated.returncode == 0, validated.stderr
    rendered = gen(elsewhere, "-C", str(tmp_path / "s"), "render", "--profile", "single", "--out", "out")
    assert rendered.returncode == 0 and (tmp_path / "s" / "out" / "compose.yaml").is_file()
    assert not (elsewhere / "out").exists()


def test_a_directory_without_profiles_says_how_to_make_one(tmp_path: Path) -> None:
    result = gen(tmp_path, "check")
    assert result.returncode == 1
    assert "not a stack directory (no profiles/ in it); run `gen init DIR`" in result.stderr
    assert "Traceback" not in result.stderr
    missing = gen(tmp_path, "-C", "nowhere", "check")
    assert missing.returncode == 2 or "no such directory" in missing.stderr


def test_a_profile_path_with_a_newline_cannot_break_the_header(tmp_path: Path) -> None:
    odd = tmp_path / "a\nprivileged: true"
    odd.mkdir()
    (odd / "p.yaml").write_text("extends: builtin:standalone\nstack: t\n")
    result = gen_in(tmp_path, "render", "--profile", str(odd / "p.yaml"), "--out", "out")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "compose.yaml").read_text()
    assert "\nprivileged: true" not in text
    assert set(YAML(typ="safe").load(text)) == {"name", "services", "volumes", "configs"}


def test_a_profile_file_name_that_cannot_name_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "my stack!.yaml").write_text("extends: builtin:standalone\nstack: t\n")
    result = gen_in(tmp_path, "render", "--profile", "my stack!.yaml")
    assert result.exit_code == 1
    assert "rename it to letters, digits" in result.output


def test_up_refuses_a_socket_that_is_not_the_daemon_compose_talks_to(tmp_path: Path) -> None:
    """DOCKER_HOST names one daemon, the profile mounts another: the supervisor would manage the wrong one."""
    socket = tmp_path / "other" / "docker.sock"
    socket.parent.mkdir()
    socket.write_text("")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "s.yaml").write_text(
        f"extends: builtin:standalone\nstack: t\ndocker: {{socket: {socket}}}\n"
    )
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///run/user/1000/docker.sock"}
    result = subprocess.run([GEN, "up", "s"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert (
        "DOCKER_HOST is unix:///run/user/1000/docker.sock but the profile's docker.socket mounts"
        in result.stderr
    )
    assert "set docker.socket to /run/user/1000/docker.sock" in result.stderr


def test_up_refuses_a_socket_that_does_not_exist(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "s.yaml").write_text(
        "extends: builtin:standalone\nstack: t\ndocker: {socket: /nonexistent/docker.sock}\n"
    )
    result = subprocess.run(
        [GEN, "up", "s"], cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert result.returncode == 1
    assert "docker.socket /nonexistent/docker.sock: no such socket on this host" in result.stderr


def test_rootless_socket_renders_with_the_runtime_directory(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "r.yaml").write_text(
        "extends: builtin:single\nstack: t\ndocker: {socket: $XDG_RUNTIME_DIR/docker.sock}\n"
    )
    assert gen_in(tmp_path, "render", "--profile", "r").exit_code == 0
    compose = YAML(typ="safe").load((tmp_path / "generated" / "r" / "compose.yaml").read_text())
    mount = compose["services"]["supervisor"]["volumes"][0]
    assert mount["source"].startswith("${XDG_RUNTIME_DIR:?") and mount["source"].endswith("}/docker.sock")
    assert mount["bind"] == {
        "create_host_path": False
    }  # a missing socket is an error, not an empty directory
    assert gen_in(tmp_path, "check").exit_code == 0


def test_a_profile_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    result = gen_in(tmp_path, "init", "s", "--name", "x\n")
    assert result.exit_code == 1 and "--name" in result.output
    assert not (tmp_path / "s" / "profiles").exists() or list((tmp_path / "s" / "profiles").iterdir()) == []


def test_every_key_the_example_leaves_empty_gets_a_fresh_value(tmp_path: Path) -> None:
    """A key variable need not end in _API_KEY: .env fills every empty one, so `up` never meets `:?`."""
    from generator.stack_env import ensure_env

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "k.yaml").write_text(
        "extends: builtin:single\nstack: t\nsupervisor: {api_key_env: MY_TOKEN}\n"
        "vpns: [{name: gluetun, control_api_key_env: GLUETUN_SECRET}]\n"
    )
    assert gen_in(tmp_path, "render", "--profile", "k").exit_code == 0
    ensure_env(tmp_path / "generated" / "k")
    values = dict(
        line.split("=", 1)
        for line in (tmp_path / "generated" / "k" / ".env").read_text().splitlines()
        if "=" in line
    )
    assert len(values["MY_TOKEN"]) >= 32 and len(values["GLUETUN_SECRET"]) >= 32
    assert values["GLUETUN_ENV_FILE"] == "./gluetun.env"


def test_long_and_odd_paths_are_one_line_errors(tmp_path: Path) -> None:
    long = "a" * 5000
    for args in (
        ["render", "--profile", f"{long}.yaml"],
        ["-C", long, "check"],
        ["validate", long],
        ["init", long],
    ):
        result = gen(tmp_path, *args)
        assert result.returncode in (1, 2), (args, result.stderr[-300:])
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2, args


def test_render_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    assert gen_in(tmp_path, "init", "s", "--mode", "standalone").exit_code == 0
    out = tmp_path / "s" / "generated" / "standalone"
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    (out / ".compose.yaml.tmp").symlink_to(victim)
    (out / "compose.yaml").unlink()
    (out / "compose.yaml").symlink_to(victim)
    assert gen_in(tmp_path / "s", "render", "--profile", "standalone").exit_code == 0
    assert victim.read_text() == "mine\n"
    assert not (out / "compose.yaml").is_symlink() and "services:" in (out / "compose.yaml").read_text()


def test_odd_entries_in_profiles_are_not_profiles(tmp_path: Path) -> None:
    assert gen_in(tmp_path, "init", "s", "--mode", "standalone").exit_code == 0
    profiles = tmp_path / "s" / "profiles"
    (profiles / "dir.yaml").mkdir()
    (profiles / "zero.yaml").symlink_to("/dev/zero")
    (profiles / "broken.yaml").symlink_to(tmp_path / "nowhere")
    checked = gen_in(tmp_path / "s", "check")
    assert checked.exit_code == 0, checked.output
    assert "matches 1 profiles" in checked.output
    refused = gen_in(tmp_path, "init", "t", "--name", "a.yaml")
    assert refused.exit_code == 1 and "--name" in refused.output
