"""`ace-supervisor`: the supervisor's command line.

`serve` validates every setting first (a bad or missing one stops it with a message naming the variable),
then runs the Litestar app under uvicorn; `healthcheck` is what the compose healthcheck runs inside the
container.
"""

from __future__ import annotations

import logging
import sys
import urllib.request

import click

from supervisor.settings import ConfigError, EnvironmentSettings, load_config, read_stack


@click.group(help="The AceStream engine supervisor.")
def main() -> None:
    pass


@main.command(help="Serve the supervisor on the port from the rendered settings.")
def serve() -> None:
    import uvicorn

    from supervisor.app import create_app
    from supervisor.runtime.base import RuntimeFailure

    try:
        config = load_config()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    logging.basicConfig(
        level=config.env.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe would drown the log
    try:
        app = create_app(config)
    except RuntimeFailure as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"ace-supervisor: serving {config.stack.stack} on port {config.listen_port}")
    uvicorn.run(
        app, host="0.0.0.0", port=config.listen_port, log_level=config.env.log_level.lower(), access_log=False
    )


@main.command(help="Exit 0 when the local supervisor answers its health route (for Docker healthchecks).")
def healthcheck() -> None:
    try:
        env = EnvironmentSettings()
        port = env.port or read_stack(env.settings).supervisor_port
    except (ConfigError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as response:
            sys.exit(0 if response.status == 200 else 1)
    except OSError as error:
        click.echo(f"unhealthy: {error}", err=True)
        sys.exit(1)
