"""A stack directory: the user's own folder holding profiles/ and generated/, never gen's install.

Every command works on one: the current directory or `gen -C DIR`. Relative paths given on the command
line resolve against it, as with `git -C`, so `gen -C /my/dir render --profile profiles/x.yaml` and
`cd /my/dir && gen render --profile x` do the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from generator.errors import UserError
from generator.paths import GENERATED_DIR_NAME, PROFILES_DIR_NAME
from generator.yaml_io import excerpt, printable

# A profile's name is its file's stem and the name of its generated/<name>/ directory.
PROFILE_NAME = re.compile(r"^(?![^/]*\.ya?ml$)[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class StackDir:
    root: Path

    @property
    def profiles(self) -> Path:
        return self.root / PROFILES_DIR_NAME

    @property
    def generated(self) -> Path:
        return self.root / GENERATED_DIR_NAME

    def path(self, given: str | Path) -> Path:
        """A path from the command line, relative to the stack directory."""
        return self.root / Path(given)

    def shown(self, path: Path) -> str:
        """A path as messages and headers show it: relative to the stack directory when inside it."""
        try:
            text = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            text = str(path)
        return printable(text)

    def profile_names(self) -> list[str]:
        """The profiles this directory renders: profiles/*.yaml except the bases named _*.yaml."""
        if not self.profiles.is_dir():
            raise UserError(self.not_a_stack_dir())
        return sorted(
            p.stem
            for p in self.profiles.glob("*.yaml")
            if not p.name.startswith("_") and p.is_file() and PROFILE_NAME.fullmatch(p.stem)
        )

    def not_a_stack_dir(self) -> str:
        return (
            f"{printable(str(self.root))}: not a stack directory (no {PROFILES_DIR_NAME}/ in it); "
            "run `gen init DIR` to make one, or point at one with `gen -C DIR`"
        )

    def resolve_profile(self, given: str) -> tuple[str, Path]:
        """A profile is a name in profiles/ or a path to a file; returns (name, path)."""
        if (given.endswith((".yaml", ".yml")) or "/" in given) and not (
            self.profiles / f"{given}.yaml"
        ).is_file():
            path = self.path(given)
            if not path.is_file():
                raise UserError(f"profile file {printable(given)} not found (looked for {self.shown(path)})")
            name = path.stem
        else:
            if not self.profiles.is_dir():
                raise UserError(self.not_a_stack_dir())
            path = self.profiles / f"{given}.yaml"
            if not PROFILE_NAME.fullmatch(given) or not path.is_file():
                choices = ", ".join(self.profile_names()) or "(none yet)"
                raise UserError(
                    f"no profile {excerpt(given)} in {self.shown(self.profiles)}/; choose one of: {choices}, "
                    "or give a path"
                )
            name = given
        if not PROFILE_NAME.fullmatch(name):
            raise UserError(
                f"profile file {printable(given)}: its name {excerpt(name)} becomes the directory "
                f"{GENERATED_DIR_NAME}/<name>/; rename it to letters, digits, '.', '_' or '-' (up to 63)"
            )
        return name, path
