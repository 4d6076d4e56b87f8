"""`ace-supervisor`: the supervisor's command line.

`serve` validates every setting first (a bad or missing one stops it with a message naming the variable),
then runs the Litestar app under uvicorn; `healthcheck` is what the compose healthcheck runs inside the
container.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
import urllib.request
from types import FrameType

import click

from supervisor import log_format, version
from supervisor.settings import (
    ConfigError,
    listen_host,
    listen_port,
    load_config,
    load_environment,
    read_stack,
)


@click.group(help="The AceStream engine supervisor.")
def main() -> None:
    pass


@main.command(help="Serve the supervisor on the address and port from the rendered settings.")
def serve() -> None:
    import uvicorn

    from supervisor.app import create_app
    from supervisor.lease import LeaseHeld
    from supervisor.runtime.base import RuntimeFailure
    from supervisor.store import StoreError

    try:
        config = load_config()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None  # one line: the variable, the problem, the fix
    click.echo(version.banner())  # the log's first line: which version runs (or refused to)
    log_format.configure(config.env.log_level)  # one line per record: what clients sent is escaped
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe would drown the log
    try:
        app = create_app(config)
        # Before serving: a second supervisor on this stack and daemon stops here, with a message.
        asyncio.run(app.state.supervisor.lease.acquire())
    except (RuntimeFailure, StoreError, LeaseHeld) as error:
        raise click.ClickException(str(error)) from None
    address = f"{_url_host(config.listen_host)}:{config.listen_port}"
    click.echo(f"ace-supervisor: serving {config.stack.stack} on {address}")

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # uvicorn waits for every open response before the shutdown: live feeds (GET /events/stream)
            # never end by themselves, so they are told to end here.
            app.state.closing = True
            super().handle_exit(sig, frame)

    server_config = uvicorn.Config(
        app,
        host=config.listen_host,
        port=config.listen_port,
        log_level=config.env.log_level.lower(),
        access_log=False,
    )
    Server(server_config).run()


@main.command(help="Exit 0 when the local supervisor answers its health route (for Docker healthchecks).")
def healthcheck() -> None:
    try:
        env = load_environment()
        stack = read_stack(env.settings)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    url = f"http://{_url_host(_local_address(listen_host(env, stack)))}:{listen_port(env, stack)}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            sys.exit(0 if response.status == 200 else 1)
    except OSError as error:
        click.echo(f"unhealthy: {error}", err=True)
        sys.exit(1)


def _local_address(listen: str) -> str:
    """Where this host reaches a server listening on `listen`: loopback for "every address"."""
    try:
        address = ipaddress.ip_address(listen)
    except ValueError:
        return listen  # a host name (the settings hold addresses): call it as written
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "::1"
    return listen


def _url_host(host: str) -> str:
    """The host as a URL writes it: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host
