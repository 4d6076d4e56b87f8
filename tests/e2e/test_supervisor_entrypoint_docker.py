"""The supervisor image's entrypoint on the bench daemon, with a stand-in socket of a chosen group and mode
mounted where the Docker socket goes: the command runs as `ace` with that group, whatever the gid (one the
image has, one it lacks, 0 as under rootless Docker); a socket its group cannot write is reported; a
container started as another user is left as it is."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from bench.images import SUPERVISOR_IMAGE

pytestmark = pytest.mark.docker


@pytest.fixture
def stand_in_socket(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("giving the stand-in socket another group needs root")
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    yield path
    listener.close()


def run(
    client: docker.DockerClient, labels: dict[str, str], sock: Path, command: list[str], **options: object
) -> tuple[str, str]:
    container = client.containers.run(
        SUPERVISOR_IMAGE,
        command,
        detach=True,
        labels=labels,
        network_mode="none",
        volumes={str(sock): {"bind": "/var/run/docker.sock", "mode": "rw"}},
        **options,
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] == 0, container.logs().decode()
        return (
            container.logs(stdout=True, stderr=False).decode(),
            container.logs(stdout=False, stderr=True).decode(),
        )
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("gid", [4242, 100, 0], ids=["unknown-to-the-image", "users", "root-rootless"])
def test_the_command_runs_as_ace_with_the_sockets_group(
    docker_client: docker.DockerClient,
    bench_cleanup: str,
    bench_labels: dict[str, str],
    stand_in_socket: Path,
    gid: int,
) -> None:
    os.chown(stand_in_socket, 0, gid)
    stand_in_socket.chmod(0o660)
    out, err = run(
        docker_client,
        bench_labels,
        stand_in_socket,
        ["sh", "-c", "id -u; id -G; test -w /var/run/docker.sock"],
    )
    uid, groups = out.split("\n")[:2]
    assert uid == "10001"
    assert str(gid) in groups.split() and "10001" in groups.split()
    assert err == ""


def test_a_socket_its_group_cannot_write_is_reported(
    docker_client: docker.DockerClient,
    bench_cleanup: str,
    bench_labels: dict[str, str],
    stand_in_socket: Path,
) -> None:
    os.chown(stand_in_socket, 0, 4243)
    stand_in_socket.chmod(0o600)
    out, err = run(docker_client, bench_labels, stand_in_socket, ["id", "-u"])
    assert out.strip() == "10001"
    assert "/var/run/docker.sock (mode 600, owner 0:4243) is not writable by its group" in err


def test_a_container_started_as_another_user_is_left_alone(
    docker_client: docker.DockerClient,
    bench_cleanup: str,
    bench_labels: dict[str, str],
    stand_in_socket: Path,
) -> None:
    os.chown(stand_in_socket, 0, 4244)
    stand_in_socket.chmod(0o660)
    out, err = run(
        docker_client,
        bench_labels,
        stand_in_socket,
        ["sh", "-c", "id -u; id -G"],
        user="2000",
        group_add=["4244"],
    )
    uid, groups = out.split("\n")[:2]
    assert uid == "2000" and groups.split()[-1] == "4244"  # as Docker set them: no group added
    assert err == ""
