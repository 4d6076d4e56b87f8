"""`gen up` and `gen down` from a stack directory outside the clone, on the bench daemon.

gen init -> a profile that names the bench daemon's socket as docker.socket -> `gen up` (render, .env
with fresh keys, build of the supervisor image, falling back to the classic builder on this daemon that
has no bridge network for BuildKit, up --wait) -> the supervisor answers and makes its minimum engine ->
`gen down` leaves no container and no network of the stack, and keeps the supervisor's database volume.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docker
import pytest
from bench.fixtures import PROJECT_LABEL

from supervisor.core.labels import MANAGED

pytestmark = pytest.mark.docker

GEN = str(Path(sys.executable).with_name("gen"))
SUPERVISOR_PORT = 27199
ENGINE_PORTS = "27100-27109"


def gen(stack: Path, docker_host: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    for name in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"):
        env.pop(name, None)
    return subprocess.run(
        [GEN, "-C", str(stack), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_gen_up_then_down_from_a_users_directory(
    tmp_path: Path, docker_host: str, docker_client: docker.DockerClient, bench_cleanup: str
) -> None:
    if not docker_host.startswith("unix://"):
        pytest.skip("the supervisor mounts a unix socket; this daemon is reached otherwise")
    stack = tmp_path / "my-stack"
    profile = {
        "extends": "builtin:standalone",
        "stack": bench_cleanup,
        "ports": {"engine_http": ENGINE_PORTS, "supervisor": SUPERVISOR_PORT, "host_ip": "127.0.0.1"},
        "docker": {"socket": docker_host.removeprefix("unix://")},
    }
    (stack / "profiles").mkdir(parents=True)
    (stack / "profiles" / "bench.yaml").write_text(json.dumps(profile))

    started = time.monotonic()
    up = gen(stack, docker_host, "up", "bench")
    assert up.returncode == 0, up.stdout + up.stderr
    print(f"gen up took {time.monotonic() - started:.1f} s; it said: {up.stdout.strip()}")
    env_file = stack / "generated" / "bench" / ".env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"

    with urllib.request.urlopen(f"http://127.0.0.1:{SUPERVISOR_PORT}/health", timeout=5) as answer:
        assert answer.status == 200
    project = {"label": [f"{PROJECT_LABEL}={bench_cleanup}"]}
    deadline = time.monotonic() + 60
    engines: list[object] = []
    while time.monotonic() < deadline and not engines:
        engines = docker_client.containers.list(filters={"label": [*project["label"], f"{MANAGED}=true"]})
        time.sleep(0.5)
    assert engines, "the supervisor made no engine (replicas.min is 1)"

    down = gen(stack, docker_host, "down", "bench")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "removed 1 engine container(s)" in down.stdout
    assert docker_client.containers.list(all=True, filters=project) == []
    assert docker_client.networks.list(filters=project) == []
    assert [v.name for v in docker_client.volumes.list(filters=project)] == [
        f"{bench_cleanup}_supervisor-data"
    ]
