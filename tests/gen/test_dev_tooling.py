"""What a newcomer meets first: `./dev` lists every recipe with its whole description, `gen up` finds a
Compose v2 even without the docker plugin, and a shipped `gen` works from a plain (non-editable) install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gen.conftest import REPO

from generator.stack_run import compose_command
from generator.validate import compose_binary

JUST = Path(sys.executable).with_name("just")
RECIPE = re.compile(r"^([a-z][a-z0-9-]*)(?: [^:]*)?:(?!=)")
DOC = re.compile(r'^\[doc\("(.*)"\)\]$')


def _descriptions(justfile: str) -> dict[str, str]:
    """Each recipe's description as its author wrote it: its [doc] line, else the whole comment above it."""
    found: dict[str, str] = {}
    above: list[str] = []
    for line in justfile.splitlines():
        if match := RECIPE.match(line):
            docs = [m.group(1) for m in map(DOC.match, above) if m]
            comments = [a.removeprefix("#").strip() for a in above if a.startswith("#")]
            found[match.group(1)] = docs[0] if docs else " ".join(comments)
            above = []
        elif line.startswith(("#", "[")):
            above.append(line)
        else:
            above = []
    return found


def test_dev_lists_every_recipe_with_its_whole_description() -> None:
    listing = subprocess.run(
        [str(JUST), "--list"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    descriptions = _descriptions((REPO / "justfile").read_text())
    assert {"up", "down", "test", "pytest", "bench-gen"} <= set(descriptions)
    for recipe, description in descriptions.items():
        line = next((x for x in listing.splitlines() if x.split()[:1] == [recipe]), "")
        assert description, f"recipe {recipe} has no description"
        assert line.endswith(f"# {description}"), (recipe, description, line)


def test_gen_up_uses_the_installed_compose_when_docker_has_no_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A `docker` without the compose plugin answers `docker compose` as the CLI does: unknown command.
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho \"docker: 'compose' is not a docker command.\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    monkeypatch.delenv("ACE_COMPOSE_BIN", raising=False)
    assert compose_command() == compose_binary() and compose_binary() is not None
    assert "docker-compose" in compose_command()[0]


def test_a_plain_install_gives_a_working_gen(tmp_path: Path) -> None:
    """pip install of the built wheel (not editable): the shipped profiles and templates come with it."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            str(REPO),
            "-w",
            str(wheels),
        ],
        check=True,
        capture_output=True,
    )
    target = tmp_path / "site"
    wheel = next(wheels.glob("*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    assert (target / "generator" / "shipped" / "templates" / "compose.yaml.j2").is_file()
    stack = tmp_path / "my-stack"
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = [sys.executable, "-c", "from generator.cli import main; main()"]
    where = subprocess.run(
        [*run[:2], "import generator; print(generator.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert where.stdout.startswith(str(target)), where  # the installed copy, not the clone
    made = subprocess.run(
        [*run, "init", str(stack), "--mode", "single"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    compose = (stack / "generated" / "single" / "compose.yaml").read_text()
    assert "build:" not in compose  # no source tree to build from: the image is named, not built
    checked = subprocess.run([*run, "check"], env=env, capture_output=True, text=True, cwd=stack)
    assert checked.returncode == 0, checked.stderr
