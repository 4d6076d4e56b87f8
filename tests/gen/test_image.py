"""The supervisor image's Dockerfile: its version label follows pyproject.toml, and it stays buildable by
the classic builder (no BuildKit-only syntax), as `gen up` falls back to it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_version_build_argument_defaults_to_the_projects_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert re.findall(r"^ARG VERSION=(\S+)$", DOCKERFILE, re.MULTILINE) == [version]


def test_the_dockerfile_needs_no_buildkit() -> None:
    assert not DOCKERFILE.startswith("# syntax=")
    for line in DOCKERFILE.splitlines():
        assert not re.search(r"--mount=|--chmod=|--link\b|<<", line), line


def test_every_file_the_image_copies_is_in_the_build_context_and_the_bench_rebuilds_on_it() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    from bench.images import SUPERVISOR_INPUTS

    for source in re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE, re.MULTILINE):
        assert (ROOT / source).exists(), source
        assert source.split("/")[0] not in ignored, source
        assert source in SUPERVISOR_INPUTS or source.split("/")[0] in SUPERVISOR_INPUTS, source
