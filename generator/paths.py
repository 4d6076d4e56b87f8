"""Where gen finds what it ships (templates, profiles) and the names of what it writes.

Installed from a wheel, the shipped files are package data under generator/shipped/; in the repository
(an editable install) they are its top-level templates/ and profiles/. Everything a user renders lives in
a stack directory of their own (see generator/stack_dir.py), never here.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "shipped"
# The source tree gen runs from, when it runs from one: its Dockerfile builds the supervisor image.
SOURCE_ROOT: Path | None = (
    None if _INSTALLED.is_dir() or not (_PACKAGE.parent / "Dockerfile").is_file() else _PACKAGE.parent
)
_SHIPPED = _INSTALLED if _INSTALLED.is_dir() else _PACKAGE.parent
SHIPPED_PROFILES_DIR = _SHIPPED / "profiles"
TEMPLATES_DIR = _SHIPPED / "templates"

PROFILES_DIR_NAME = "profiles"
GENERATED_DIR_NAME = "generated"
COMPOSE_FILE = "compose.yaml"
ENV_EXAMPLE_FILE = ".env.example"
