"""Hostile and careless profiles: each is refused through the CLI with a clear message naming the field,
nothing is written, and the bombs stay small and fast (a child process with a hard memory cap)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from gen.conftest import gen_in
from gen.hostile_profiles import BOMBS, HOSTILE

GEN = str(Path(sys.executable).with_name("gen"))
MEMORY_CAP = 1024**3  # 1 GiB of address space: a bomb that expands dies here instead of passing


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_profile_is_refused_naming_the_field(case: str, tmp_path: Path) -> None:
    text, fragments = HOSTILE[case]
    (tmp_path / "base.yaml").write_text("stack: t\nmode: standalone\nports: {engine_http: 11000-11019}\n")
    (tmp_path / "p.yaml").write_text(text)
    result = gen_in(tmp_path, "render", "--profile", "p.yaml", "--out", "out")
    assert result.exit_code == 1, result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert all(len(line) < 400 for line in result.output.splitlines()), "errors quote an excerpt, not all"
    assert not (tmp_path / "out").exists()


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.parametrize("case", list(BOMBS), ids=list(BOMBS))
def test_bomb_gets_one_line_error_with_bounded_memory(case: str, tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("stack: t\nmode: standalone\nports: {engine_http: 11000-11019}\n")
    (tmp_path / "p.yaml").write_text(BOMBS[case])
    result = subprocess.run(
        [GEN, "render", "--profile", "p.yaml", "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        preexec_fn=_capped,
        timeout=60,  # a hang guard, not a timing: the benchmark prints how fast each bomb is refused
    )
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(lines[0]) < 400
    assert not (tmp_path / "out").exists()
