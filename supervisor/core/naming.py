"""Engine container names: the stack, the published port (unique in a stack) and a short random tail.

The tail keeps a name free even when Docker still holds an old, exited container with the same port.
"""

from __future__ import annotations

import secrets


def engine_name(stack: str, host_http_port: int, tail: str | None = None) -> str:
    return f"{stack}-engine-{host_http_port}-{tail or secrets.token_hex(3)}"
