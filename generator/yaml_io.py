"""YAML in and out through ruamel.yaml: safe loading with file:line errors, stable round-trip output."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from generator.errors import UserError


def load_yaml_text(text: str, source: str, round_trip: bool = False) -> Any:
    """Parse YAML; round_trip keeps quotes, comments, flow and block styles for re-emitting."""
    try:
        return (round_trip_yaml() if round_trip else YAML(typ="safe", pure=True)).load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise UserError(f"{where}: YAML syntax error: {error.problem or error.context}") from None
    except YAMLError as error:
        raise UserError(f"{source}: YAML syntax error: {error}") from None


def load_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read: {error.strerror}") from None
    return load_yaml_text(text, str(path))


def round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096  # never fold long strings: the output is compared byte for byte
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    return yaml


def dump_yaml(document: Any) -> str:
    buffer = io.StringIO()
    round_trip_yaml().dump(document, buffer)
    return buffer.getvalue()
