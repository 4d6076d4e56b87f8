"""`ace-supervisor`: the supervisor's command line.

Until the supervisor proper lands, `serve` answers only its health route, so a rendered stack can come up
healthy; `healthcheck` is what the compose healthcheck runs inside the container.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import urllib.request
from pathlib import Path

import click

from supervisor.stack_settings import SETTINGS_PATH_IN_CONTAINER, StackSettings

SETTINGS_ENV = "ACE_SUPERVISOR_SETTINGS"


def load_settings() -> StackSettings:
    path = Path(os.environ.get(SETTINGS_ENV, SETTINGS_PATH_IN_CONTAINER))
    try:
        return StackSettings.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.ClickException(
            f"{SETTINGS_ENV}: settings file {path} not found; mount the rendered settings or point "
            f"{SETTINGS_ENV} at it"
        ) from None
    except ValueError as error:
        raise click.ClickException(f"{SETTINGS_ENV}: {path} is not valid stack settings: {error}") from None


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/health":
            self.send_error(404)
            return
        body = json.dumps({"status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@click.group(help="The AceStream engine supervisor.")
def main() -> None:
    pass


@main.command(help="Serve the supervisor on the port from the rendered settings.")
def serve() -> None:
    settings = load_settings()
    server = http.server.ThreadingHTTPServer(("0.0.0.0", settings.supervisor_port), _HealthHandler)
    click.echo(f"ace-supervisor: serving {settings.stack} on port {settings.supervisor_port}")
    server.serve_forever()


@main.command(help="Exit 0 when the local supervisor answers its health route (for Docker healthchecks).")
def healthcheck() -> None:
    port = load_settings().supervisor_port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as response:
            sys.exit(0 if response.status == 200 else 1)
    except OSError as error:
        click.echo(f"unhealthy: {error}", err=True)
        sys.exit(1)
