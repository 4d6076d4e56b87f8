"""Small valid profiles that tests change one field at a time."""

from __future__ import annotations

from typing import Any

STANDALONE: dict[str, Any] = {"stack": "t", "mode": "standalone", "ports": {"engine_http": "11000-11019"}}
SINGLE: dict[str, Any] = {
    "stack": "t",
    "mode": "single",
    "ports": {"engine_http": "11000-11019"},
    "vpns": [{"name": "vpn-a"}],
}
REDUNDANT: dict[str, Any] = {
    "stack": "t",
    "mode": "redundant",
    "ports": {"engine_http": "11000-11019"},
    "vpns": [{"name": "vpn-a"}, {"name": "vpn-b"}],
}
