"""Make a stack directory ready for `docker compose up`: its .env, and the VPN provider files .env names.

A missing .env is made from .env.example with a fresh random value for every variable it leaves empty
(the keys; the provider-file variables, *_ENV_FILE, have defaults). It holds
secrets, so it is owner-only (0600) from its first byte: the text goes to a temporary file created 0600
in the same directory, which is then hard-linked into place. Linking, unlike renaming, fails when .env
already exists, so one that appeared meanwhile is never replaced either.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import Binding, parse_stream

from generator.errors import UserError
from generator.fields import ENV_FILE_SUFFIX
from generator.paths import ENV_EXAMPLE_FILE

ENV_FILE = ".env"
OWNER_ONLY = 0o600

# Replaces the example's own header, which tells the reader to copy it and is about the example.
HEADER = (
    "# The secrets of the stack in this directory: its API keys, and where its VPN provider settings are.\n"
    f"# Created from {ENV_EXAMPLE_FILE} with fresh random API keys; it is yours to edit. Never commit it:\n"
    "# whoever has these keys can drive the stack.\n"
)


@dataclass(frozen=True)
class EnvReport:
    created: bool  # .env was missing and has just been made
    env_path: Path
    missing_files: list[tuple[str, Path]]  # (the *_ENV_FILE variable, the missing file it names)


def ensure_env(directory: Path) -> EnvReport:
    """Create .env when it is missing (never replacing one), then check the provider files it names."""
    example, env_path = directory / ENV_EXAMPLE_FILE, directory / ENV_FILE
    if not example.is_file():
        raise UserError(f"{example}: missing; run `gen render --profile {directory.name}` first")
    created = False
    if not env_path.exists():
        created = _create_owner_only(env_path, filled_in(_read(example)))
    return EnvReport(created, env_path, _missing_files(directory, env_path))


def format_missing(report: EnvReport) -> list[str]:
    """One line per missing provider file, saying what to put there."""
    return [
        f"{path}: missing ({name} in {report.env_path}); put your VPN provider settings there "
        "(VPN_SERVICE_PROVIDER, VPN_TYPE, credentials...) as gluetun's documentation describes"
        for name, path in report.missing_files
    ]


def filled_in(example: str) -> str:
    """The .env text: our header, then the example without its header and with fresh keys filled in."""
    bindings = list(parse_stream(io.StringIO(example)))
    header = _header_length(bindings)
    body = "".join(_with_fresh_key(binding) for binding in bindings[header:]).strip("\r\n")
    return f"{HEADER}\n{body}\n" if body else HEADER


def _header_length(bindings: list[Binding]) -> int:
    """How many leading lines are the example's notes about itself: every comment before the last blank
    line above the first variable (the template sets its note apart so); that variable keeps its own."""
    leading = next((i for i, binding in enumerate(bindings) if binding.key is not None), len(bindings))
    apart = [i for i in range(1, min(leading, len(bindings) - 1) + 1) if _after_blank_line(bindings[i])]
    return apart[-1] if apart else 0


def _after_blank_line(binding: Binding) -> bool:
    return "\n" in _leading_space(binding.original.string)


def _leading_space(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


def _with_fresh_key(binding: Binding) -> str:
    text = binding.original.string
    # Every variable the example leaves empty is a secret (the provider-file variables have defaults).
    if binding.key is None or binding.key.endswith(ENV_FILE_SUFFIX) or binding.value:
        return text
    return f"{_leading_space(text)}{binding.key}={secrets.token_urlsafe(32)}\n"


def _create_owner_only(path: Path, text: str) -> bool:
    """Write `path` atomically and never readable by others; False when it exists already."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _cannot_create(path, error) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), OWNER_ONLY)  # mkstemp's 0600 less the umask: exactly 0600
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.link(temporary, path)
    except FileExistsError:
        return False
    except OSError as error:
        raise _cannot_create(path, error) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return True


def _cannot_create(path: Path, error: OSError) -> UserError:
    return UserError(
        f"{path}: cannot create it ({error.strerror or error}); copy {ENV_EXAMPLE_FILE} to it yourself, "
        "fill in every API key and make it readable by you alone (chmod 600)"
    )


def _missing_files(directory: Path, env_path: Path) -> list[tuple[str, Path]]:
    """The provider files .env names that do not exist; relative names are relative to the stack."""
    values = dotenv_values(stream=io.StringIO(_read(env_path)))
    named = [
        (name, directory / (value or "")) for name, value in values.items() if name.endswith(ENV_FILE_SUFFIX)
    ]
    return [(name, path) for name, path in named if not path.is_file()]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read it ({error}); make it a readable UTF-8 text file") from None
