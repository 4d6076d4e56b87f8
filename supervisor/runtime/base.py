"""The Runtime protocol and the plain types it speaks (never docker SDK objects).

Fourteen methods are all the supervisor needs from a container runtime, so a fake runs the whole service in
tests and a real daemon is needed only to prove the Docker adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class RuntimeFailure(Exception):
    """The runtime refused or failed an action; the message says which and why."""


class DaemonUnreachable(RuntimeFailure):
    """The Docker daemon did not answer (no connection, or no answer in time): its own state, which
    pauses provisioning until it answers again, not a failure of the engine image for the breaker."""


class PortUnavailable(RuntimeFailure):
    """The container could not start because its published host port is held by something else: a fault
    of that port, not of Docker or the image, so it quarantines the port instead of opening the breaker."""


class ImageMissing(RuntimeFailure):
    """The engine image is not on the daemon: provisioning cannot work until it is pulled (the supervisor
    pulls at start-up and on its schedule, never inside a provision request)."""


# How Docker words a host port it cannot bind (its port allocator, or the kernel's bind).
PORT_UNAVAILABLE_MARKERS = ("port is already allocated", "address already in use")


def port_unavailable(message: str) -> bool:
    return any(marker in message.lower() for marker in PORT_UNAVAILABLE_MARKERS)


@dataclass(frozen=True)
class PublishedPort:
    container_port: int
    host_port: int
    host_ip: str | None = None  # None: every host address


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    environment: dict[str, str]
    labels: dict[str, str]
    network_mode: str | None = None  # "container:<id>" to join a gluetun's namespace
    network: str | None = None  # a user network to join (standalone engines join the stack's)
    published: tuple[PublishedPort, ...] = ()
    tmpfs: dict[str, str] = field(default_factory=dict)  # mount path -> Docker's tmpfs options (size=...)


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    running: bool
    labels: dict[str, str]
    ip_addresses: dict[str, str] = field(default_factory=dict)  # network name -> address
    networks: tuple[str, ...] = ()
    started_at: str | None = None  # when it last started (inspect only); a restart changes it
    never_started: bool = False  # created but never started: the debris of an interrupted provision
    paused: bool = False  # frozen by `docker pause` (then not `running`: it cannot serve)
    image_id: str | None = None  # the id of the image it runs (a newer pull of its tag has another)

    @property
    def ip_address(self) -> str | None:
        return next(iter(self.ip_addresses.values()), None)


class ContainerAction(StrEnum):
    """The container events the supervisor reacts to (Docker's `Action` words; health_status is
    Docker's `health_status: <state>` with the state in ContainerEvent.health)."""

    create = "create"
    start = "start"
    die = "die"
    destroy = "destroy"
    health_status = "health_status"


@dataclass(frozen=True)
class ContainerEvent:
    container_id: str
    action: ContainerAction
    name: str | None
    labels: dict[str, str]
    health: str | None = None  # healthy / unhealthy / starting, for health_status


class Runtime(Protocol):
    async def create_and_start(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start a container; on failure nothing is left behind."""
        ...

    async def create(self, spec: ContainerSpec) -> ContainerInfo:
        """Create a container without starting it (a standby); on failure nothing is left behind."""
        ...

    async def start_created(self, container_id: str, name: str) -> ContainerInfo:
        """Start a container `create` made; on failure it is removed (nothing is left behind)."""
        ...

    async def pause(self, container_id: str) -> None:
        """Freeze a running container (`docker pause`: no CPU, its memory kept)."""
        ...

    async def unpause(self, container_id: str, name: str) -> ContainerInfo:
        """Thaw a paused container; on failure it is removed (nothing is left behind)."""
        ...

    async def stop_and_remove(self, container_id: str) -> None:
        """Stop and remove a container; a container already gone is not an error."""
        ...

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        """The container by id or name, or None when it does not exist."""
        ...

    async def list(self, labels: dict[str, str]) -> list[ContainerInfo]:
        """Every container (running or not) carrying all of these labels."""
        ...

    async def restart(self, container_id: str) -> None:
        """Restart a container (a gluetun down past its restart timeout)."""
        ...

    async def disk_usage(self, labels: dict[str, str]) -> dict[str, int]:
        """Container id -> the bytes its writable layer holds on disk (Docker's SizeRw), for every
        container carrying all of these labels. Slow on a daemon whose containers hold many files: called
        by the cache loop on its own interval, never on a request."""
        ...

    async def image_id(self, image: str) -> str | None:
        """The id of the local image this reference names, or None when it is not on the daemon."""
        ...

    async def pull(self, image: str) -> None:
        """Pull the image from its registry (RuntimeFailure when that fails)."""
        ...

    async def image_created(self, image_id: str) -> datetime | None:
        """When the image with this id was built (its `Created`), or None when it is not on the daemon."""
        ...

    async def claim_volume(self, name: str, labels: dict[str, str]) -> dict[str, str]:
        """Create the named volume with these labels unless it exists; the labels of the volume that now
        has the name (ours, or those of whoever created it first: names are unique per daemon)."""
        ...

    async def remove_volume(self, name: str) -> None:
        """Remove the named volume; one already gone is not an error."""
        ...

    def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerEvent]:
        """Events of the containers carrying all of these labels, as they happen, until the caller stops
        iterating. Raises DaemonUnreachable when the stream cannot be opened or breaks: events may have
        been missed, so the caller compares everything again before it listens anew."""
        ...

    async def close(self) -> None: ...
