"""The supervisor image on the bench daemon: built from the repository's Dockerfile (classic builder, no
network: the bench's Python base carries the wheels), run as compose runs it with the daemon's socket
mounted in. It serves as a non-root user that the entrypoint gave the socket's group, reaches Docker
(creates an engine), turns healthy through its own HEALTHCHECK, takes over a database volume an older
image wrote as root, prints its version first, and carries the OCI labels from its build arguments.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from bench.images import PYTHON_BASE, ROOT
from e2e import supervisor_harness as harness
from ruamel.yaml import YAML

from generator.plan import build_plan
from generator.profile import load_profile

pytestmark = pytest.mark.docker

SUPERVISOR_PORT = 27400
ENGINE_PORTS = "27401-27404"  # https 27411-27414, p2p 27421-27424: all within this test's ports
REVISION = "e2e1234"
KEY = "image-test-key-0123456789"
IMAGE_UID = 10001
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def settings_json(tmp_path: Path, stack: str) -> Path:
    profile = {
        "stack": stack,
        "mode": "standalone",
        "engine": {"variant": "krinkuto11", "image_pull": "never"},
        "replicas": {"min": 0, "min_free": 0, "max": 2},
        "ports": {"engine_http": ENGINE_PORTS, "https_offset": 10, "p2p_offset": 20, "host_ip": "127.0.0.1"},
    }
    source = tmp_path / f"{stack}.yaml"
    with source.open("w") as file:
        YAML(typ="safe").dump(profile, file)
    settings = build_plan(load_profile(source), "standalone", str(source)).settings
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings.model_dump(mode="json")))
    path.chmod(0o644)
    return path


def call(path: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{SUPERVISOR_PORT}{path}", method=method, headers={"Authorization": f"Bearer {KEY}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read())


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as error:
            last = error
        else:
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})")


def test_the_image_serves_as_a_non_root_user_that_reaches_docker(
    tmp_path: Path,
    docker_client: docker.DockerClient,
    docker_host: str,
    bench_cleanup: str,
    bench_labels: dict[str, str],
) -> None:
    if not docker_host.startswith("unix://"):
        pytest.skip("the image mounts a unix socket; this daemon is reached otherwise")
    socket = docker_host.removeprefix("unix://")
    tag = f"{bench_cleanup}-supervisor:test"
    started = time.monotonic()
    image, _ = docker_client.images.build(
        path=str(ROOT),
        dockerfile="Dockerfile",
        tag=tag,
        buildargs={"REVISION": REVISION},
        network_mode="none",
        rm=True,
        forcerm=True,
    )
    try:
        base = docker_client.images.get(PYTHON_BASE)
        print(
            f"image built in {time.monotonic() - started:.0f} s: {image.attrs['Size'] / 1e6:.1f} MB "
            f"({(image.attrs['Size'] - base.attrs['Size']) / 1e6:.1f} MB over the base {PYTHON_BASE})"
        )
        config = image.attrs["Config"]
        assert config["Labels"]["org.opencontainers.image.version"] == VERSION
        assert config["Labels"]["org.opencontainers.image.revision"] == REVISION
        assert config["Healthcheck"]["Test"] == ["CMD", "ace-supervisor", "healthcheck"]
        check_container(tmp_path, docker_client, tag, socket, bench_cleanup, bench_labels)
    finally:
        for container in docker_client.containers.list(all=True, filters={"ancestor": tag}):
            container.remove(force=True, v=True)
        docker_client.images.remove(tag, noprune=False)


def check_container(
    tmp_path: Path,
    client: docker.DockerClient,
    tag: str,
    socket: str,
    stack: str,
    labels: dict[str, str],
) -> None:
    network = harness.make_network(client, stack, labels)
    volume = client.volumes.create(f"{stack}-data", labels=labels)
    # An older image ran as root: its database volume holds root-owned files.
    client.containers.run(
        tag,
        entrypoint=["sh", "-c", "touch /data/supervisor.db && chown -R 0:0 /data"],
        volumes={volume.name: {"bind": "/data", "mode": "rw"}},
        labels=labels,
        remove=True,
    )
    settings = settings_json(tmp_path, stack)

    def start() -> Any:
        return client.containers.run(
            tag,
            detach=True,
            name=f"{stack}-supervisor",
            labels=labels,
            network=network,
            environment={
                "ACE_SUPERVISOR_SETTINGS": "/etc/ace-supervisor/settings.json",
                "ACE_SUPERVISOR_BIND": "0.0.0.0",
                "ACE_SUPERVISOR_PROJECT": stack,
                "ACE_SUPERVISOR_NETWORK": network,
                "SUPERVISOR_API_KEY": KEY,
            },
            volumes={
                socket: {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(settings): {"bind": "/etc/ace-supervisor/settings.json", "mode": "ro"},
                volume.name: {"bind": "/data", "mode": "rw"},
            },
            ports={"8000/tcp": ("127.0.0.1", SUPERVISOR_PORT)},
        )

    container = start()
    try:
        wait_for("/health", lambda: call("/health")[0] == 200, 60)
        health = call("/health/status")[1]
        assert health["docker_reachable"] is True, health
        status, engine = call("/provision/acestream", "POST")  # a container made through the socket
        assert status == 200 and engine["container_id"], engine

        process = container.exec_run(["cat", "/proc/1/status"]).output.decode()
        fields = dict(line.split(":", 1) for line in process.splitlines() if ":" in line)
        uids = fields["Uid"].split()
        socket_gid = str(Path(socket).stat().st_gid)
        print(f"PID 1: Uid {fields['Uid'].strip()}, Groups {fields['Groups'].strip()}; socket {socket_gid}")
        assert uids == [str(IMAGE_UID)] * 4, fields["Uid"]
        assert fields["Gid"].split() == [str(IMAGE_UID)] * 4, fields["Gid"]
        assert socket_gid in fields["Groups"].split(), fields["Groups"]
        assert int(fields["CapEff"], 16) == 0 and fields["NoNewPrivs"].strip() == "1"
        assert container.exec_run(["test", "-e", "/opt/venv/bin/pip"]).exit_code == 1  # nothing that builds
        owner = container.exec_run(["stat", "-c", "%u", "/data/supervisor.db"]).output.decode().strip()
        assert owner == str(IMAGE_UID)

        def healthy() -> bool:
            container.reload()
            return bool(container.attrs["State"]["Health"]["Status"] == "healthy")

        waited = time.monotonic()
        wait_for("the image's healthcheck to turn healthy", healthy, 60)
        print(f"healthy {time.monotonic() - waited:.0f} s after serving")
        first = container.logs().decode().splitlines()[0]
        assert first == f"ace-supervisor {VERSION} (revision {REVISION})"

        # The backup docs/DEPLOY.md gives, while the supervisor runs, as the image's user.
        backup = container.exec_run(["python3", "-c", documented_backup(), "/data/backup.db"], user="ace")
        assert backup.exit_code == 0, backup.output
        count = (
            "import sqlite3; db = sqlite3.connect('/data/backup.db'); "
            "print(db.execute('SELECT count(*) FROM engines').fetchone()[0])"
        )
        assert container.exec_run(["python3", "-c", count], user="ace").output.decode().strip() == "1"

        # An upgrade: the supervisor container replaced, the engine kept and adopted.
        container.stop(timeout=10)
        container.remove()
        container = start()
        wait_for("/health after the restart", lambda: call("/health")[0] == 200, 60)
        assert [e["container_id"] for e in call("/engines")[1]] == [engine["container_id"]]
        adopted = call("/events?type=engine_adopted")[1]
        assert [event["engine_id"] for event in adopted] == [engine["container_id"]]
    finally:
        container.remove(force=True)


def documented_backup() -> str:
    """The Python one-liner docs/DEPLOY.md runs in the container to back the database up."""
    text = (ROOT / "docs" / "DEPLOY.md").read_text()
    match = re.search(r'python3 -c \\\n\s*"([^"]+)"', text)
    assert match, "docs/DEPLOY.md lost its backup command"
    return match.group(1)
