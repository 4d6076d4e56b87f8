"""Make a stack directory ready for `docker compose up`: create .env from .env.example with fresh random
API keys when it is missing, and stop with a clear message when a VPN provider file is missing.

Usage: python scripts/ensure-env.py generated/<profile>    (the work is generator.stack_env's)
"""

from __future__ import annotations

import sys
from pathlib import Path

from generator.errors import UserError
from generator.stack_env import ensure_env, format_missing


def main(directory: Path) -> int:
    try:
        report = ensure_env(directory)
    except UserError as error:
        print(error, file=sys.stderr)
        return 1
    if report.created:
        print(f"wrote {report.env_path} with fresh random API keys")
    for line in format_missing(report):
        print(line, file=sys.stderr)
    return 1 if report.missing_files else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
