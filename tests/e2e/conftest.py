"""Fixtures shared by the supervisor's real-Docker tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from e2e import supervisor_harness as harness


@pytest.fixture
def stack_for(
    tmp_path: Path,
    docker_client: docker.DockerClient,
    docker_host: str,
    bench_cleanup: str,
    bench_labels: dict[str, str],
) -> Iterator[Any]:
    """`stack_for(mode, first_port, **profile)` -> a SupervisorProcess (not yet started) whose stack has
    its network and gluetun stand-ins running; every process is stopped at the end, before clean-up."""
    made: list[harness.SupervisorProcess] = []

    def build(mode: str, first_port: int, **profile: Any) -> harness.SupervisorProcess:
        name = f"{bench_cleanup}-{len(made)}"
        workdir = tmp_path / name
        workdir.mkdir()
        settings = harness.stack_settings(workdir, name, mode, first_port, **profile)
        for ports in settings.published_engine_ranges().values():
            taken = [port for port in ports.ports() if not harness.port_is_free(port)]
            assert not taken, f"host ports {taken} are in use; these tests need 27000-27199 free"
        network = harness.make_network(docker_client, name, bench_labels)
        extra = harness.start_gluetuns(docker_client, settings, bench_cleanup, network, bench_labels)
        supervisor = harness.SupervisorProcess(
            settings, workdir, docker_host, project=bench_cleanup, network=network, extra_env=extra
        )
        made.append(supervisor)
        return supervisor

    yield build
    for supervisor in made:
        supervisor.stop()
