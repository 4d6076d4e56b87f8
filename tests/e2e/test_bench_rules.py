"""The bench's own rules: a test marked docker skips without a daemon, and under CI=true that skip fails."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def marked_test(pytester):
    pytester.makeini("[pytest]\nmarkers =\n    docker: needs Docker\n")
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.docker\ndef test_needs_docker():\n    pass\n\n"
        "def test_plain():\n    pass\n"
    )
    return pytester


@pytest.mark.parametrize(("ci", "outcome"), [("", {"skipped": 1}), ("true", {"errors": 1})])
def test_docker_test_without_a_daemon_skips_but_fails_under_ci(marked_test, monkeypatch, ci, outcome):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    result = marked_test.runpytest_subprocess("-p", "bench.fixtures", "-rs")
    result.assert_outcomes(passed=1, **outcome)
    result.stdout.fnmatch_lines(["*DOCKER_HOST=unix:///nonexistent/docker.sock does not answer*"])
