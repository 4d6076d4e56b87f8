"""The stand-ins obey the contracts the product relies on (see each stand-in's docstring for its sources)."""

from __future__ import annotations

import importlib.util
import io
import json
import socket
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from bench.images import ENGINE_IMAGES, GLUETUN_IMAGE, STANDINS

LOOPBACK = {"com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"}
TS_PACKET = 188


def load_engine_module():
    path = STANDINS / "engine" / "acestream_standin.py"
    spec = importlib.util.spec_from_file_location("acestream_standin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, {"http_port": 6878, "https_port": None, "p2p_port": 8621, "bind_all": False}),
        (
            [],
            {"CONF": "--http-port=40001\n--https-port=41001\n--bind-all"},
            {"http_port": 40001, "https_port": 41001, "p2p_port": 8621, "bind_all": True},
        ),
        (
            [],
            {"HTTP_PORT": "40002", "HTTPS_PORT": "41002", "P2P_PORT": "42002", "BIND_ALL": "true"},
            {"http_port": 40002, "https_port": 41002, "p2p_port": 42002, "bind_all": True},
        ),
        (
            [],
            {"ACESTREAM_ARGS": "--http-port 40003 --port 42003 --bind-all"},
            {"http_port": 40003, "https_port": None, "p2p_port": 42003, "bind_all": True},
        ),
        (
            [],
            {"ALLOW_REMOTE_ACCESS": "yes", "EXTRA_FLAGS": "--http-port=40004 --https-port=41004"},
            {"http_port": 40004, "https_port": 41004, "p2p_port": 8621, "bind_all": True},
        ),
        (
            ["--http-port", "40006"],
            {"CONF": "--http-port=40005"},
            {"http_port": 40006, "https_port": None, "p2p_port": 8621, "bind_all": False},
        ),
    ],
)
def test_engine_standin_reads_ports_like_each_image(argv, environ, expected):
    module = load_engine_module()
    assert module.parse_ports(module.engine_flags(argv, environ)) == expected


def request(url: str, method: str = "GET", key: str | None = None, body: Any = None, timeout: float = 5):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data else {}
    if key is not None:
        headers["X-API-Key"] = key
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, None


def wait_until(check, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except OSError as error:
            last = error
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached within {timeout} s (last error: {last})")


def health(container) -> str:
    container.reload()
    return container.attrs["State"]["Health"]["Status"]


@pytest.fixture
def bench_network(docker_client, bench_cleanup, bench_labels):
    return docker_client.networks.create(bench_cleanup, options=LOOPBACK, labels=bench_labels)


def run_published(docker_client, image, port, network, labels, **options):
    container = docker_client.containers.run(
        image,
        detach=True,
        network=network.name,
        ports={f"{port}/tcp": ("127.0.0.1", None)},
        labels=labels,
        **options,
    )
    container.reload()
    host_port = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"]
    return container, f"http://127.0.0.1:{host_port}"


@pytest.mark.docker
def test_gluetun_standin_control_server_auth_health_and_port(docker_client, bench_network, bench_labels):
    key = "k-" + bench_network.name
    gluetun, base = run_published(
        docker_client,
        GLUETUN_IMAGE,
        8000,
        bench_network,
        bench_labels,
        environment={
            "HTTP_CONTROL_SERVER_ADDRESS": ":8000",
            "HTTP_CONTROL_SERVER_AUTH_DEFAULT_ROLE": json.dumps({"auth": "apikey", "apikey": key}),
            "VPN_PORT_FORWARDING": "on",
            "STANDIN_FORWARDED_PORT": "40123",
        },
    )
    wait_until(lambda: health(gluetun) == "healthy", what="gluetun healthy")
    assert request(f"{base}/v1/vpn/status")[0] == 401
    assert request(f"{base}/v1/vpn/status", key="wrong")[0] == 401
    assert request(f"{base}/v1/vpn/status", key=key) == (200, {"status": "running"})
    assert request(f"{base}/v1/portforward", key=key) == (200, {"port": 40123, "ports": [40123]})
    status, address = request(f"{base}/v1/publicip/ip", key=key)
    assert status == 200 and address["public_ip"] and address["country"]

    assert request(f"{base}/v1/vpn/status", "PUT", key, {"status": "stopped"}) == (
        200,
        {"outcome": "stopped"},
    )
    assert request(f"{base}/v1/vpn/status", key=key) == (200, {"status": "stopped"})
    assert request(f"{base}/v1/portforward", key=key) == (200, {"port": 0, "ports": []})
    wait_until(lambda: health(gluetun) == "unhealthy", what="gluetun unhealthy while the VPN is down")

    assert request(f"{base}/v1/vpn/status", "PUT", key, {"status": "running"})[0] == 200
    wait_until(lambda: health(gluetun) == "healthy", what="gluetun healthy again")

    assert request(f"{base}/_standin/portforward", "PUT", None, {"port": 40200})[0] == 401
    assert request(f"{base}/_standin/portforward", "PUT", key, {"port": 40200}) == (200, {"ports": [40200]})
    assert request(f"{base}/v1/portforward", key=key) == (200, {"port": 40200, "ports": [40200]})
    assert gluetun.exec_run(["cat", "/tmp/gluetun/forwarded_port"]).output == b"40200"
    several = {"ports": [40300, 40301]}  # v3.41.1 with several forwarded ports: no "port" key
    assert request(f"{base}/_standin/portforward", "PUT", key, several) == (200, several)
    assert request(f"{base}/v1/portforward", key=key) == (200, several)


@pytest.mark.docker
def test_engine_standin_api_stream_and_faults(docker_client, bench_network, bench_labels):
    engine, base = run_published(
        docker_client,
        ENGINE_IMAGES[2],
        6878,
        bench_network,
        bench_labels,
        environment={"ALLOW_REMOTE_ACCESS": "yes"},
    )
    version = wait_until(lambda: request(f"{base}/webui/api/service?method=get_version")[1], what="engine up")
    assert version == {"result": {"code": 3017000, "platform": "linux", "version": "3.1.70"}, "error": None}
    status, body = request(f"{base}/server/api?api_version=3&method=get_network_connection_status")
    assert (status, body) == (200, {"result": {"connected": True}, "error": None})
    assert request(f"{base}/server/api?api_version=3&method=get_status")[1]["result"]["playlist_loaded"]

    status, body = request(f"{base}/ace/getstream?id=abc123&format=json")
    started = body["response"]
    assert status == 200 and body["error"] is None
    infohash, session = started["infohash"], started["playback_session_id"]
    assert started["playback_url"] == f"{base}/ace/r/{infohash}/{session}"
    assert started["stat_url"] == f"{base}/ace/stat/{infohash}/{session}"
    assert started["command_url"] == f"{base}/ace/cmd/{infohash}/{session}"
    assert {"is_live", "is_encrypted", "client_session_id"} <= set(started)

    with urllib.request.urlopen(started["playback_url"], timeout=5) as stream:
        data = stream.read(TS_PACKET * 20)
    assert len(data) == TS_PACKET * 20
    assert all(data[offset] == 0x47 for offset in range(0, len(data), TS_PACKET))

    stat = request(started["stat_url"])[1]
    assert stat["error"] is None and stat["response"]["status"] == "dl"
    assert stat["response"]["playback_session_id"] == session and "livepos" in stat["response"]
    assert request(f"{started['command_url']}?method=stop")[1] == {"response": "ok", "error": None}
    assert request(started["stat_url"])[1] == {"response": None, "error": "unknown playback session id"}
    hls = request(f"{base}/ace/manifest.m3u8?infohash=deadbeef&format=json")[1]["response"]
    assert hls["playback_url"].endswith(".m3u8") and hls["infohash"] == "deadbeef"
    with urllib.request.urlopen(hls["playback_url"], timeout=5) as playlist:
        segment = next(line for line in playlist.read().decode().splitlines() if line.endswith(".ts"))
    with urllib.request.urlopen(f"{base}{segment}", timeout=5) as response:
        assert response.read(TS_PACKET)[0] == 0x47
    with urllib.request.urlopen(f"{base}/ace/getstream?id=raw", timeout=5) as stream:
        assert stream.headers["Content-Type"] == "video/mp2t" and stream.read(TS_PACKET)[0] == 0x47

    version_url = f"{base}/webui/api/service?method=get_version"
    assert request(f"{base}/_standin/fault", "POST", body={"mode": "error"})[0] == 200
    assert request(version_url)[0] == 500
    request(f"{base}/_standin/fault", "POST", body={"mode": "slow", "delay_s": 1.0})
    started_at = time.monotonic()
    assert request(version_url)[0] == 200
    assert time.monotonic() - started_at >= 1.0
    request(f"{base}/_standin/fault", "POST", body={"mode": "hang"})
    with pytest.raises((TimeoutError, socket.timeout)):
        request(version_url, timeout=1)
    request(f"{base}/_standin/fault", "POST", body={"mode": "none"})
    assert request(version_url)[0] == 200

    request(f"{base}/_standin/fault", "POST", body={"mode": "exit", "code": 3})
    wait_until(lambda: (engine.reload(), engine.status)[1] == "exited", what="engine exited")
    assert engine.attrs["State"]["ExitCode"] == 3


@pytest.mark.docker
def test_engine_standin_without_bind_all_listens_on_loopback_only(docker_client, bench_network, bench_labels):
    engine, base = run_published(
        docker_client, ENGINE_IMAGES[1], 6878, bench_network, bench_labels, environment={"ACESTREAM_ARGS": ""}
    )
    inside = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:6878/webui/api/service?method=get_version').status)"
    wait_until(lambda: engine.exec_run(["python3", "-c", inside]).output.strip() == b"200", what="engine up")
    with pytest.raises(OSError):
        request(f"{base}/webui/api/service?method=get_version", timeout=3)
    wait_until(lambda: health(engine) == "healthy", what="engine healthy by its image's healthcheck")


def test_standins_say_what_they_stand_in_for():
    for path in Path(STANDINS).glob("*/*.py"):
        assert "Stand-in for" in path.read_text().split('"""')[1], path


@pytest.mark.docker
def test_gluetun_standin_roles_from_the_auth_config_file(docker_client, bench_network, bench_labels):
    roles = (
        b'[[roles]]\nname = "open"\nroutes = ["GET /v1/portforward"]\nauth = "none"\n\n'
        b'[[roles]]\nname = "keyed"\nroutes = ["GET /v1/vpn/status"]\nauth = "apikey"\napikey = "secret"\n'
    )
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("auth.toml")
        info.size = len(roles)
        tar.addfile(info, io.BytesIO(roles))
    gluetun = docker_client.containers.create(
        GLUETUN_IMAGE,
        network=bench_network.name,
        ports={"8000/tcp": ("127.0.0.1", None)},
        labels=bench_labels,
        environment={"HTTP_CONTROL_SERVER_AUTH_CONFIG_FILEPATH": "/tmp/auth.toml"},
    )
    gluetun.put_archive("/tmp", archive.getvalue())
    gluetun.start()
    gluetun.reload()
    base = f"http://127.0.0.1:{gluetun.attrs['NetworkSettings']['Ports']['8000/tcp'][0]['HostPort']}"
    wait_until(lambda: request(f"{base}/v1/portforward")[0] == 200, what="gluetun up")
    assert request(f"{base}/v1/vpn/status")[0] == 401
    assert request(f"{base}/v1/vpn/status", key="secret") == (200, {"status": "running"})
    assert request(f"{base}/v1/publicip/ip", key="secret")[0] == 401
