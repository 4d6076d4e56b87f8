"""The hash of what the settings make an engine from, so a changed profile is noticed on running engines.

It covers what the settings decide for a slot (image, the port environment of the image's style, the
network it joins, its published port); not what a request added (labels, allowed `env`), and not the
forwarded port (that one follows gluetun, not the settings).
"""

from __future__ import annotations

import hashlib
import json

from supervisor.core.environment import engine_environment
from supervisor.core.ports import Slot
from supervisor.stack_settings import StackSettings


def settings_hash(stack: StackSettings, slot: Slot, network: str | None) -> str:
    """`network`: the stack network a standalone engine joins (VPN engines join their gluetun's)."""
    identity = {
        "image": stack.engine.image,
        "environment": engine_environment(stack.engine.port_style, slot.http, slot.https, slot.p2p),
        "network": f"vpn:{slot.vpn}" if slot.vpn is not None else f"network:{network or ''}",
        "published": None if slot.vpn is not None else [slot.host_http, slot.http, stack.host_ip],
    }
    encoded = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
