"""Every shipped profile, rendered and brought up for real in the bench daemon with the stand-in images.

render (generator.render, as `gen render --out`) -> .env with random keys and empty gluetun provider files
-> `docker compose up -d --wait` -> every gluetun and the supervisor healthy -> the supervisor's /health on
its published port -> for VPN profiles, engine stand-ins sharing each gluetun's network answer through
gluetun's published ports -> `docker compose down -v` leaves nothing.

The one override file points the supervisor's /var/run/docker.sock mount at the bench daemon's own socket
(so the host's /var/run is never touched), makes the project's networks publish on 127.0.0.1 only, and
drops /dev/net/tun where the machine has none.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from bench.images import ENGINE_IMAGES, GLUETUN_IMAGE, ROOT, SUPERVISOR_IMAGE
from ruamel.yaml import YAML

from generator.render import render_profile, write
from generator.stack_dir import StackDir

pytestmark = pytest.mark.docker

ENV_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def get_json(url: str, timeout: float = 3) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def wait_json(url: str, deadline_s: float = 30) -> Any:
    deadline = time.monotonic() + deadline_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = get_json(url)
            if status == 200:
                return body
            last = status
        except OSError as error:
            last = error
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer 200 within {deadline_s} s (last: {last})")


def write_env(directory: Path) -> None:
    """The .env `just up` makes (scripts/ensure-env.py, fresh random keys), and empty provider files."""
    ensure_env = [sys.executable, str(ROOT / "scripts" / "ensure-env.py"), str(directory)]
    subprocess.run(ensure_env, capture_output=True, check=False)  # writes .env; says which files are missing
    for line in (directory / ".env").read_text().splitlines():
        match = ENV_LINE.match(line)
        if match and match.group(1).endswith("_ENV_FILE"):
            (directory / match.group(2)).write_text("# the gluetun stand-in needs no provider settings\n")
    subprocess.run(ensure_env, capture_output=True, check=True)


def write_override(directory: Path, compose: dict[str, Any], docker_host: str) -> Path:
    services: dict[str, Any] = {}
    if docker_host.startswith("unix://"):
        socket = docker_host.removeprefix("unix://")
        services["supervisor"] = {"volumes": [f"{socket}:/var/run/docker.sock"]}
    if not Path("/dev/net/tun").exists():
        for name, service in compose["services"].items():
            if service.get("devices"):
                services[name] = {"devices": []}
    # Published ports bind to 127.0.0.1 only (the daemon's --ip covers just its default bridge).
    loopback = {"driver_opts": {"com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"}}
    networks = {name: loopback for name in ["default", *(compose.get("networks") or {})]}
    override = directory / "compose.bench.yaml"
    text = json.dumps({"services": services, "networks": networks}, indent=2)
    override.write_text(text.replace('"devices": []', '"devices": !reset []'))
    return override


@pytest.mark.parametrize("profile", StackDir(ROOT).profile_names())
def test_rendered_stack_comes_up_healthy_and_goes_away(
    profile, fixed_host_ports, tmp_path, compose_project, docker_client, docker_host, bench_labels
):
    directory = tmp_path / profile
    write(render_profile(StackDir(ROOT), profile, out_dir=directory))
    compose = YAML(typ="safe").load((directory / "compose.yaml").read_text())
    settings = json.loads(compose["configs"]["supervisor-settings"]["content"])
    write_env(directory)
    override = write_override(directory, compose, docker_host)
    project = compose_project(directory, [directory / "compose.yaml", override], directory / ".env")

    fixed_host_ports(compose)
    started = time.monotonic()
    project.run("up", "-d", "--wait", "--wait-timeout", "120")
    up_seconds = time.monotonic() - started

    selector = {"label": f"com.docker.compose.project={project.name}"}
    containers = {
        c.labels["com.docker.compose.service"]: c
        for c in docker_client.containers.list(filters=selector)
        if "com.docker.compose.service" in c.labels
    }
    gluetuns = [name for name, service in compose["services"].items() if service["image"] == GLUETUN_IMAGE]
    assert set(containers) == {"supervisor", *gluetuns}
    assert containers["supervisor"].image.tags == [SUPERVISOR_IMAGE]
    for name, container in containers.items():
        container.reload()
        assert container.attrs["State"]["Health"]["Status"] == "healthy", name

    port = settings["supervisor_port"]
    published = project.run("port", "supervisor", str(port)).stdout.strip()
    assert published.startswith("127.0.0.1:"), published
    assert isinstance(wait_json(f"http://{published}/health"), dict)

    # Engines behind each gluetun on the two last HTTP ports of its range (the supervisor may already
    # have started engines from the first), each passed its ports in the style of one engine image.
    styles = iter(range(len(ENGINE_IMAGES) * 2))
    reached = []
    for vpn in settings["vpns"]:
        gluetun = containers[vpn["service"]]
        http = vpn["engine_ports"]["http"]
        for engine_port in (http["last"] - 1, http["last"]):
            image, environment = engine_contract(next(styles) % len(ENGINE_IMAGES), engine_port)
            docker_client.containers.run(
                image,
                detach=True,
                network_mode=f"container:{gluetun.id}",
                environment=environment,
                labels=bench_labels,
            )
            answer = wait_json(f"http://127.0.0.1:{engine_port}/webui/api/service?method=get_version")
            assert answer == {
                "result": {"code": 3017000, "platform": "linux", "version": "3.1.70"},
                "error": None,
            }
            reached.append(engine_port)
    assert len(reached) == 2 * len(settings["vpns"])

    # Engines are not compose services: ours, and any the supervisor started, go before `down`.
    project.run("stop", "--timeout", "3", "supervisor")
    engines = [{"label": [f"{key}={value}" for key, value in bench_labels.items()]}, selector]
    for container in [c for f in engines for c in docker_client.containers.list(all=True, filters=f)]:
        if "com.docker.compose.service" not in container.labels:
            container.remove(force=True)
    project.run("down", "-v", "--timeout", "3")
    assert docker_client.containers.list(all=True, filters=selector) == []
    assert docker_client.networks.list(filters=selector) == []
    assert docker_client.volumes.list(filters=selector) == []
    print(f"{profile}: up --wait took {up_seconds:.1f} s")


def engine_contract(style: int, port: int) -> tuple[str, dict[str, str]]:
    """The engine image of that style, and the environment that sets its HTTP port and --bind-all."""
    image = ENGINE_IMAGES[style]
    if image.startswith("ghcr.io/krinkuto11/"):
        return image, {"CONF": f"--http-port={port}\n--https-port={port + 1000}\n--bind-all"}
    if image.startswith("jopsis/"):
        return image, {"ACESTREAM_ARGS": f"--http-port {port} --bind-all"}
    return image, {"ALLOW_REMOTE_ACCESS": "yes", "EXTRA_FLAGS": f"--http-port={port}"}
