"""The shipped stacks publish fixed host ports (the supervisor's 8000, each gluetun's engine range), so two
stacks on one machine cannot run at once. Stack tests hold a machine-wide lock and wait for those ports to
be free (another session's stack, or any other program, may hold them for a while) before `up`."""

from __future__ import annotations

import fcntl
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_FILE = Path("/var/tmp/ace-bench-host-ports.lock")
PORTS = re.compile(r"^(?:(?P<ip>[\d.]+):)?(?P<first>\d+)(?:-(?P<last>\d+))?:\d+(?:-\d+)?(?:/tcp)?$")


def published_host_ports(compose: dict[str, Any]) -> list[int]:
    ports: set[int] = set()
    for service in compose["services"].values():
        for entry in service.get("ports", []):
            match = PORTS.match(str(entry))
            if not match:
                raise ValueError(f"unexpected ports entry {entry!r}")
            first = int(match["first"])
            ports.update(range(first, int(match["last"] or first) + 1))
    return sorted(ports)


def busy(ports: list[int]) -> list[int]:
    """Ports something listens on. SO_REUSEADDR, as Docker binds: a port a test just released sits in
    TIME_WAIT for 60 s, which blocks a plain bind but not Docker's."""
    taken = []
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    return taken


def wait_until_free(ports: list[int], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while taken := busy(ports):
        if time.monotonic() > deadline:
            raise AssertionError(f"host ports {taken} stayed in use for {timeout:.0f} s; free them and retry")
        time.sleep(1)


@contextmanager
def machine_lock() -> Iterator[None]:
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
