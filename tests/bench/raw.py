"""What the benchmark scripts share: the private bench daemon for the length of a run, and an engine
stand-in made with the raw docker SDK (the baseline each supervisor figure is set beside)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker

from bench import images
from supervisor.core.environment import engine_environment
from supervisor.stack_settings import STANDALONE_CONTAINER_HTTP_PORT, PortStyle

TEST_DOCKERD = Path(__file__).resolve().parents[2] / "scripts" / "test-dockerd"


@contextmanager
def bench_daemon() -> Iterator[tuple[docker.DockerClient, str]]:
    """A client of the private bench daemon and its DOCKER_HOST, with every bench image built or reused.
    The daemon is started when it is not running, and then stopped again at the end."""
    started = subprocess.run([str(TEST_DOCKERD), "status"], capture_output=True).returncode != 0
    host = subprocess.run([str(TEST_DOCKERD), "start"], capture_output=True, text=True, check=True)
    docker_host = host.stdout.strip().splitlines()[-1]
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=600)
        images.ensure_all(client)
        yield client, docker_host
        client.close()
    finally:
        if started:
            subprocess.run([str(TEST_DOCKERD), "stop"], capture_output=True, check=False)


def host_config(api: Any, network: str, port: int, *, restart: bool = True) -> Any:
    """A standalone engine's host config, publishing its HTTP port on 127.0.0.1:port, as the supervisor
    creates it (restart policy included unless `restart` is False)."""
    return api.create_host_config(
        network_mode=network,
        port_bindings={STANDALONE_CONTAINER_HTTP_PORT: ("127.0.0.1", port)},
        restart_policy={"Name": "unless-stopped"} if restart else None,
    )


def create_engine(
    api: Any, image: str, style: PortStyle, network: str, name: str, labels: dict[str, str], config: Any
) -> str:
    """Create (not start) an engine stand-in from `image`, with the port environment of its image style."""
    created = api.create_container(
        image,
        name=name,
        environment=engine_environment(style, 6878, 6879, 8621),
        labels=labels,
        host_config=config,
        ports=[STANDALONE_CONTAINER_HTTP_PORT],
        networking_config={"EndpointsConfig": {network: {}}},
    )
    return str(created["Id"])
