"""`gen init DIR`: a stack directory of the user's own, ready to render and start.

The profile extends the shipped one of its mode (`extends: builtin:<mode>`), so an upgrade of gen brings
new defaults, and `gen check` shows what they change. Nothing that exists is overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path

from generator.errors import UserError
from generator.paths import GENERATED_DIR_NAME, PROFILES_DIR_NAME
from generator.render import render_profile, write
from generator.stack_dir import PROFILE_NAME, StackDir
from generator.yaml_io import printable
from supervisor.stack_settings import Mode

_GITIGNORE = f"""\
# Secrets: the stack's .env and the VPN provider files never belong in version control.
{GENERATED_DIR_NAME}/*/.env
{GENERATED_DIR_NAME}/*/*.env
!{GENERATED_DIR_NAME}/*/.env.example
*.env
"""


def _stack_name(directory: Path) -> str:
    """The compose project name: the directory's name made into one, like compose does."""
    name = re.sub(r"[^a-z0-9_-]", "-", directory.resolve().name.lower()).strip("-_")[:63]
    return name or "acestream"


def _profile(mode: Mode, stack: str) -> str:
    vpn_note = (
        ""
        if mode is Mode.standalone
        else "# Put your VPN provider settings in generated/<profile>/<vpn name>.env (see docs/DEPLOY.md).\n"
    )
    return (
        f"# The {mode.value} stack of this directory. It extends the profile shipped with gen; set any\n"
        "# field here to change it (every field: docs/GENERATOR.md), then `gen render` and `gen check`.\n"
        f"{vpn_note}"
        f"extends: builtin:{mode.value}\n"
        f"stack: {stack}\n"
    )


def _readme(name: str, mode: Mode) -> str:
    return f"""\
# AceStream stack ({mode.value})

This directory is a stack directory for `gen` (acestream-orchestrator): `profiles/` holds what you
declare, `generated/` what `gen` renders from it.

```sh
gen render --profile {name}     # after editing profiles/{name}.yaml
gen check                        # generated/ matches profiles/ and every compose file is valid
gen up {name}                    # create generated/{name}/.env with fresh keys, then start the stack
gen down {name}                  # stop it: the supervisor, the engines it made, then the rest
```
"""


def scaffold(directory: Path, mode: Mode, name: str) -> list[Path]:
    if not PROFILE_NAME.fullmatch(name):
        raise UserError(f"--name {printable(name)}: use letters, digits, '.', '_' or '-' (up to 63)")
    profile = directory / PROFILES_DIR_NAME / f"{name}.yaml"
    if profile.exists():
        raise UserError(f"{printable(str(profile))}: exists already; edit it, or give another --name")
    files = {
        profile: _profile(mode, _stack_name(directory)),
        directory / "README.md": _readme(name, mode),
        directory / ".gitignore": _GITIGNORE,
    }
    written = []
    try:
        (directory / PROFILES_DIR_NAME).mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            if path.exists():
                continue  # the user's own README or .gitignore stays as it is
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as error:
        raise UserError(
            f"{printable(str(error.filename or directory))}: cannot write: {error.strerror}"
        ) from None
    return written + write(render_profile(StackDir(directory), name))
