"""Helpers for generator tests: write small profiles into a temp dir and run `gen` on them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from generator.cli import cli

RunGen = Callable[..., Result]
WriteProfile = Callable[..., Path]

REPO = Path(__file__).resolve().parents[2]  # the clone: its profiles/ and generated/ are the shipped stacks
GENERATED_DIR = REPO / "generated"


def gen_in(directory: Path, *args: str) -> Result:
    """`gen -C DIRECTORY ARGS...` in process, as a user in that stack directory runs it."""
    return CliRunner().invoke(cli, ["-C", str(directory), *args], prog_name="gen")


@pytest.fixture
def run_gen() -> RunGen:
    """`gen` run in the repository, the stack directory of the shipped profiles."""

    def run(*args: str) -> Result:
        return gen_in(REPO, *args)

    return run


@pytest.fixture
def write_profile(tmp_path: Path) -> WriteProfile:
    def write(data: dict[str, Any] | str, name: str = "p.yaml") -> Path:
        path = tmp_path / name
        if isinstance(data, str):
            path.write_text(data)
        else:
            with path.open("w") as handle:
                YAML(typ="safe", pure=True).dump(data, handle)
        return path

    return write
