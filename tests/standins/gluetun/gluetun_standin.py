"""Stand-in for gluetun (qmcgaw/gluetun v3.41.1): its HTTP control server and its Docker healthcheck.

Behaviour from gluetun's documentation and code (wiki "Control server", internal/server routes, the
image's HEALTHCHECK): the control server listens on HTTP_CONTROL_SERVER_ADDRESS (default ":8000") and
answers `GET /v1/vpn/status` ({"status":"running"}), `PUT /v1/vpn/status` ({"status":"stopped"|"running"}
-> {"outcome":...}), `GET /v1/portforward` ({"port":N,"ports":[N]}; `/v1/openvpn/portforwarded` redirects
there), `GET /v1/publicip/ip`, `GET /v1/version`. Every route needs auth: the role from
HTTP_CONTROL_SERVER_AUTH_DEFAULT_ROLE (JSON {"auth":"apikey","apikey":"..."} checked against the
X-API-Key header, or {"auth":"none"}) and the roles of the TOML file at
HTTP_CONTROL_SERVER_AUTH_CONFIG_FILEPATH ([[roles]] name, routes, auth none|basic|apikey); otherwise
401. The health server listens on 127.0.0.1:9999 in the container's namespace and answers 200 only while
the VPN runs; `/gluetun-entrypoint healthcheck` (the image's HEALTHCHECK) asks it. With
VPN_PORT_FORWARDING=on the forwarded port is also written to /tmp/gluetun/forwarded_port. It creates
no tunnel and never opens an outgoing connection.

For tests, not part of gluetun: env STANDIN_FORWARDED_PORT (default 5914), STANDIN_PUBLIC_IP and
`PUT /_standin/portforward` {"port": N} (same auth as the control server) to change the forwarded port,
or {"ports": [N, ...]} to forward several (ProtonVPN forwards up to 5): then `/v1/portforward` answers
as v3.41.1 does with several, `{"ports": [...]}` and no "port" key;
`PUT /v1/vpn/status` takes the VPN down and up as in gluetun, and {"status":"crashed"} is accepted too.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import threading
import tomllib
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HEALTH_ADDRESS = ("127.0.0.1", 9999)
FORWARDED_PORT_FILE = "/tmp/gluetun/forwarded_port"
VERSION = {"version": "v3.41.1", "commit": "standin", "created": "2026-02-01T00:00:00Z"}


class Vpn:
    def __init__(self, environ: dict[str, str]) -> None:
        self.lock = threading.Lock()
        self.status = "running"
        self.port_forwarding = environ.get("VPN_PORT_FORWARDING", "off").lower() in ("on", "yes", "true")
        self.port = int(environ.get("STANDIN_FORWARDED_PORT", "5914")) if self.port_forwarding else 0
        self.extra_ports: list[int] = []  # forwarded beyond the first (several: no "port" key)
        self.public_ip = environ.get("STANDIN_PUBLIC_IP", "203.0.113.7")
        self.role = parse_role(environ.get("HTTP_CONTROL_SERVER_AUTH_DEFAULT_ROLE", ""))
        self.roles = load_roles(environ.get("HTTP_CONTROL_SERVER_AUTH_CONFIG_FILEPATH", ""))
        self.write_port_file()

    def write_port_file(self) -> None:
        if not self.port_forwarding:
            return
        os.makedirs(os.path.dirname(FORWARDED_PORT_FILE), exist_ok=True)
        with open(FORWARDED_PORT_FILE, "w") as file:
            file.write(str(self.port if self.status == "running" else 0))

    def running(self) -> bool:
        with self.lock:
            return self.status == "running"


def parse_role(text: str) -> dict[str, str] | None:
    if not text:
        return None
    try:
        role = json.loads(text)
    except ValueError:
        sys.stderr.write("gluetun-standin: HTTP_CONTROL_SERVER_AUTH_DEFAULT_ROLE is not JSON\n")
        sys.exit(1)
    return role if isinstance(role, dict) else None


def load_roles(path: str) -> list[dict[str, object]]:
    """The TOML auth file: [[roles]] name, routes = ["GET /v1/portforward", ...], auth, apikey/username."""
    if not path or not os.path.exists(path):
        return []
    with open(path, "rb") as file:
        roles = tomllib.load(file).get("roles", [])
    return [role for role in roles if isinstance(role, dict)]


def role_accepts(role: dict[str, object], headers: object) -> bool:
    auth = role.get("auth")
    if auth == "none":
        return True
    if auth == "apikey":
        key = headers.get("X-API-Key")  # type: ignore[attr-defined]
        return bool(key) and key == role.get("apikey")
    if auth == "basic":
        expected = base64.b64encode(f"{role.get('username')}:{role.get('password')}".encode()).decode()
        return headers.get("Authorization") == f"Basic {expected}"  # type: ignore[attr-defined]
    return False


class ControlHandler(BaseHTTPRequestHandler):
    server_version = "gluetun-standin"
    vpn: Vpn

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write("gluetun-standin: " + (format % args) + "\n")

    def send_json(self, payload: object, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self) -> bool:
        route = f"{self.command} {urlsplit(self.path).path}"
        roles = [role for role in self.vpn.roles if route in role.get("routes", [])]  # type: ignore[operator]
        if self.vpn.role is not None:
            roles.append(self.vpn.role)
        if any(role_accepts(role, self.headers) for role in roles):
            return True
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def body(self) -> dict[str, object] | None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.send_json({"error": "body must be a JSON object"}, 400)
            return None
        return data

    def do_GET(self) -> None:
        if not self.authorized():
            return
        path = urlsplit(self.path).path
        vpn = self.vpn
        with vpn.lock:
            status, port, running = vpn.status, vpn.port, vpn.status == "running"
            extra = list(vpn.extra_ports)
        if path == "/v1/vpn/status":
            self.send_json({"status": status})
        elif path == "/v1/portforward":
            shown = port if running else 0
            if shown and extra:
                self.send_json({"ports": [shown, *extra]})
            else:
                self.send_json({"port": shown, "ports": [shown] if shown else []})
        elif path == "/v1/openvpn/portforwarded":
            self.send_response(301)
            self.send_header("Location", "/v1/portforward")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/v1/publicip/ip":
            if running:
                self.send_json(
                    {
                        "public_ip": vpn.public_ip,
                        "region": "North Holland",
                        "country": "Netherlands",
                        "city": "Amsterdam",
                        "hostname": "standin.example",
                        "location": "52.37,4.89",
                        "organization": "Stand-in VPN",
                        "postal_code": "1012",
                        "timezone": "Europe/Amsterdam",
                    }
                )
            else:
                self.send_json({"public_ip": ""})
        elif path == "/v1/version":
            self.send_json(VERSION)
        elif path == "/v1/dns/status":
            self.send_json({"status": "running" if running else "stopped"})
        elif path == "/v1/updater/status":
            self.send_json({"status": "completed"})
        else:
            self.send_json({"error": "not found"}, 404)

    def do_PUT(self) -> None:
        if not self.authorized():
            return
        path = urlsplit(self.path).path
        data = self.body()
        if data is None:
            return
        vpn = self.vpn
        if path == "/v1/vpn/status":
            wanted = data.get("status")
            if wanted not in ("running", "stopped", "crashed"):
                self.send_json({"error": f"invalid status {wanted!r}"}, 400)
                return
            with vpn.lock:
                changed = vpn.status != wanted
                vpn.status = str(wanted)
                vpn.write_port_file()
            self.send_json({"outcome": wanted if changed else "already " + str(wanted)})
        elif path == "/_standin/portforward":
            ports = data["ports"] if "ports" in data else [data.get("port")]
            if (
                not isinstance(ports, list)
                or not ports
                or not all(isinstance(p, int) and 0 <= p <= 65535 for p in ports)
            ):
                self.send_json({"error": "port (or ports) must be integers 0-65535"}, 400)
                return
            with vpn.lock:
                vpn.port, vpn.extra_ports = ports[0], ports[1:]
                vpn.port_forwarding = True
                vpn.write_port_file()
            self.send_json({"ports": ports})
        else:
            self.send_json({"error": "not found"}, 404)


class HealthHandler(BaseHTTPRequestHandler):
    vpn: Vpn

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        healthy = self.vpn.running()
        body = b"" if healthy else b"VPN is not running"
        self.send_response(200 if healthy else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def healthcheck() -> None:
    try:
        with urllib.request.urlopen("http://127.0.0.1:9999/", timeout=3) as response:
            sys.exit(0 if response.status == 200 else 1)
    except OSError as error:
        sys.stderr.write(f"unhealthy: {error}\n")
        sys.exit(1)


def control_address(text: str) -> tuple[str, int]:
    host, _, port = (text or ":8000").rpartition(":")
    return host or "0.0.0.0", int(port)


def main(argv: list[str]) -> None:
    if argv[:1] == ["healthcheck"]:
        healthcheck()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # PID 1 has no default SIGTERM action
    vpn = Vpn(dict(os.environ))
    ControlHandler.vpn = vpn
    HealthHandler.vpn = vpn
    health = ThreadingHTTPServer(HEALTH_ADDRESS, HealthHandler)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    address = control_address(os.environ.get("HTTP_CONTROL_SERVER_ADDRESS", ":8000"))
    control = ThreadingHTTPServer(address, ControlHandler)
    control.daemon_threads = True
    sys.stderr.write(f"gluetun-standin: control server on {address}, VPN running\n")
    control.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
