"""Make a stack directory ready for `docker compose up`: create .env from .env.example with fresh random
API keys when it is missing, and stop with a clear message when a VPN provider file is missing.

Usage: python scripts/ensure-env.py generated/<profile>
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path


def main(directory: Path) -> int:
    example, env = directory / ".env.example", directory / ".env"
    if not example.is_file():
        print(f"{example}: missing; run `gen render --profile {directory.name}` first", file=sys.stderr)
        return 1
    if not env.exists():
        lines = []
        for line in example.read_text().splitlines():
            name, equals, value = line.partition("=")
            if equals and not line.startswith("#") and name.endswith("_API_KEY") and not value:
                line = f"{name}={secrets.token_urlsafe(32)}"
            lines.append(line)
        env.write_text("\n".join(lines) + "\n")
        env.chmod(0o600)
        print(f"wrote {env} with fresh random API keys")
    values = dict(
        line.split("=", 1)
        for line in env.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    missing = [
        (name, value)
        for name, value in values.items()
        if name.endswith("_ENV_FILE") and not (directory / value).is_file()
    ]
    for name, value in missing:
        print(
            f"{directory / value}: missing ({name} in {env}); put your VPN provider settings there "
            "(VPN_SERVICE_PROVIDER, VPN_TYPE, credentials...) as gluetun's documentation describes",
            file=sys.stderr,
        )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
