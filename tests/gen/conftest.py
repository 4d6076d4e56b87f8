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


@pytest.fixture
def run_gen() -> RunGen:
    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), prog_name="gen")

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
