"""The hash of what the settings make an engine from, so a changed profile is noticed on running engines.

It covers what the settings decide for a slot (image, the environment of the image's style with its port
and cache flags, the tmpfs cache mount, the network it joins, its published port); not what a request
added (labels, allowed `env`), and not the forwarded port (that one follows gluetun, not the settings).
"""

from __future__ import annotations

import hashlib
import json

from supervisor.core.environment import cache_flags, cache_mounts, engine_environment
from supervisor.core.ports import Slot
from supervisor.stack_settings import StackSettings


def settings_hash(stack: StackSettings, slot: Slot, network: str | None) -> str:
    """`network`: the stack network a standalone engine joins (VPN engines join their gluetun's)."""
    engine = stack.engine
    identity = {
        "image": engine.image,
        "environment": engine_environment(
            engine.port_style, slot.http, slot.https, slot.p2p, cache_flags(engine.cache)
        ),
        "tmpfs": cache_mounts(engine.cache),
        "network": f"vpn:{slot.vpn}" if slot.vpn is not None else f"network:{network or ''}",
        "published": None if slot.vpn is not None else [slot.host_http, slot.http, stack.host_ip],
    }
    encoded = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
