"""The bench's own rules: a test marked docker skips without a daemon, and under CI=true that skip fails."""

from __future__ import annotations

import socket
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


def test_a_port_in_time_wait_counts_as_free_as_docker_sees_it():
    from bench.host_ports import busy

    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert busy([port]) == [port]  # listening: taken
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end of the connection enters TIME_WAIT
        client.close()
    assert busy([port]) == []
