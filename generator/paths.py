"""Where the repository keeps profiles, templates and rendered stacks (the project installs editable)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = ROOT / "profiles"
TEMPLATES_DIR = ROOT / "templates"
GENERATED_DIR = ROOT / "generated"
COMPOSE_FILE = "compose.yaml"
ENV_EXAMPLE_FILE = ".env.example"
