"""Parse compose `ports:` entries (short and long syntax) into plain published-port mappings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SHORT = re.compile(
    r"^(?:(?P<ip>\[[^\]]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(?P<published>\d+(?:-\d+)?):)?(?P<target>\d+(?:-\d+)?)(?:/(?P<proto>\w+))?$"
)


@dataclass(frozen=True)
class Published:
    """One host port forwarded to one container port."""

    host_ip: str | None
    host_port: int
    container_port: int


def _span(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def parse_ports(entry: Any) -> list[Published]:
    """Every host->container pair of one entry; ValueError with a readable reason if it cannot be read."""
    if isinstance(entry, dict):
        target, published = entry.get("target"), entry.get("published")
        if target is None:
            raise ValueError("long-syntax port without target")
        if published is None:
            return []  # an ephemeral host port: publishes nothing predictable
        host_ip = entry.get("host_ip")
        targets, hosts = _span(str(target)), _span(str(published))
    else:
        match = _SHORT.match(str(entry).strip())
        if not match:
            raise ValueError(f"cannot read port mapping {entry!r}")
        if match.group("published") is None:
            return []
        host_ip = match.group("ip")
        targets, hosts = _span(match.group("target")), _span(match.group("published"))
    if len(targets) == 1 and len(hosts) > 1:
        targets = targets * len(hosts)
    if len(targets) != len(hosts):
        raise ValueError(
            f"port mapping {entry!r} maps {len(hosts)} host ports to {len(targets)} container ports"
        )
    return [Published(host_ip, host, target) for host, target in zip(hosts, targets, strict=True)]


def compress(ports: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7", for messages."""
    spans: list[str] = []
    ordered = sorted(set(ports))
    start = previous = ordered[0] if ordered else 0
    for port in [*ordered[1:], None]:
        if port is not None and port == previous + 1:
            previous = port
            continue
        spans.append(str(start) if start == previous else f"{start}-{previous}")
        if port is not None:
            start = previous = port
    return ", ".join(spans) if ordered else ""
