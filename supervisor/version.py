"""The supervisor's version (the installed distribution's, from pyproject.toml) and the source revision an
image was built from, for the start-up log line and the build_info metric."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version

DISTRIBUTION = "acestream-orchestrator"
# Set by the image (the Dockerfile's REVISION build argument); unset outside it.
REVISION_ENV = "ACE_SUPERVISOR_REVISION"


def version() -> str:
    try:
        return installed_version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"


def revision() -> str | None:
    return os.environ.get(REVISION_ENV) or None


def banner() -> str:
    """What the supervisor logs first: `ace-supervisor 0.1.0 (revision abc1234)`."""
    built = revision()
    return f"ace-supervisor {version()}" + (f" (revision {built})" if built else "")
