"""An in-memory runtime for fast tests: containers are records; failures and delays are injectable."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

from supervisor.runtime.base import (
    ContainerAction,
    ContainerEvent,
    ContainerInfo,
    ContainerSpec,
    DaemonUnreachable,
    ImageMissing,
    PortUnavailable,
    RuntimeFailure,
)

IMAGE_BUILT = datetime(2026, 11, 1, tzinfo=UTC)  # when the fake's images were built, unless told


class FakeRuntime:
    def __init__(self) -> None:
        self.containers: dict[str, ContainerInfo] = {}
        self.specs: dict[str, ContainerSpec] = {}
        self.fail_next_creates = 0
        self.fail_next_removes = 0
        self.create_delay: asyncio.Event | None = None  # when set, creates wait for it
        self.start_delay: asyncio.Event | None = None  # when set, starts of created containers wait for it
        self.fail_next_starts = 0  # starts of created containers (standbys) that fail, or their thaws
        self.pauses: list[str] = []  # containers paused (paused standbys), in order
        self.unpauses: list[str] = []  # and thawed
        self.starts: list[str] = []  # ids of created containers started through start_created
        self.in_flight = 0
        self.max_in_flight = 0
        self.foreign_listeners: set[int] = set()  # host ports some other program holds
        self.daemon_down = False  # every call fails as a daemon that does not answer
        self.volumes: dict[str, dict[str, str]] = {}  # name -> labels
        self.images: dict[str, str] = {}  # reference -> id; a reference not here is pulled on demand
        self.missing_images: set[str] = set()  # not on the daemon (a pull fills them in, unless offline)
        self.registry: dict[str, str] = {}  # reference -> the id a pull brings (a newer image)
        self.image_built: dict[str, datetime] = {}  # image id -> when it was built (default: IMAGE_BUILT)
        self.pull_fails = False  # the registry cannot be reached
        self.pulls: list[str] = []
        self.restarts: list[str] = []  # ids restarted through the Runtime (a gluetun past its timeout)
        self.disk_use: dict[str, int] = {}  # container id -> bytes in its writable layer (default 0)
        self.disk_usage_calls = 0
        self._ids = itertools.count(1)
        self._watchers: list[asyncio.Queue[ContainerEvent | None]] = []

    def emit(self, container_id: str, action: ContainerAction, health: str | None = None) -> None:
        """Tell every watcher, as Docker's event stream would."""
        info = self.containers.get(container_id)
        name, labels = (info.name, dict(info.labels)) if info else (None, {})
        for queue in self._watchers:
            queue.put_nowait(ContainerEvent(container_id, action, name, labels, health))

    def break_event_streams(self) -> None:
        """Every open event stream fails, as when the daemon restarts."""
        for queue in self._watchers:
            queue.put_nowait(None)

    def add(
        self,
        name: str,
        labels: dict[str, str],
        *,
        ip: str | None = None,
        running: bool = True,
        started_at: str | None = None,
        never_started: bool = False,
        container_id: str | None = None,
    ) -> str:
        """Put a container in place as if something else had created it (a gluetun, an old engine). Its id
        counts up unless given (a benchmark gives ids as random-looking as Docker's)."""
        container_id = container_id or f"{next(self._ids):064x}"
        addresses = {"default": ip} if ip else {}
        info = ContainerInfo(
            container_id,
            name,
            running,
            dict(labels),
            addresses,
            started_at=started_at,
            never_started=never_started,
        )
        self.containers[container_id] = info
        self.emit(container_id, ContainerAction.create)
        if running:
            self.emit(container_id, ContainerAction.start)
        return container_id

    def kill(self, container_id: str) -> None:
        """As `docker kill`: it stops (restart policies do not bring it back) and a die event is sent."""
        self.containers[container_id] = replace(self.containers[container_id], running=False)
        self.emit(container_id, ContainerAction.die)

    def start(self, container_id: str) -> None:
        """As `docker start` (or its restart policy): same id, a new start time, a start event."""
        info = self.containers[container_id]
        self.containers[container_id] = replace(
            info, running=True, never_started=False, started_at=f"{info.started_at or ''}+"
        )
        self.emit(container_id, ContainerAction.start)

    def restart_behind(self, container_id: str) -> None:
        """As `docker restart` by somebody else: die, then start with a new start time."""
        if self.containers[container_id].running:
            self.emit(container_id, ContainerAction.die)
        self.start(container_id)

    def remove_behind(self, container_id: str) -> None:
        """As `docker rm -f` by somebody else: die (when running), then destroy."""
        if self.containers[container_id].running:
            self.emit(container_id, ContainerAction.die)
        self.emit(container_id, ContainerAction.destroy)
        del self.containers[container_id]

    async def restart(self, container_id: str) -> None:
        """As `docker restart`: same id, a new start time (and a new network namespace)."""
        self._answer()
        await asyncio.sleep(0)
        found = self._resolve(container_id)
        if found is None:
            raise RuntimeFailure(f"cannot restart {container_id[:12]}: no such container")
        self.restarts.append(found)
        self.restart_behind(found)

    def _local_image(self, image: str) -> str | None:
        if image in self.missing_images:
            return None
        return self.images.setdefault(image, f"sha256:{abs(hash(image)):064x}"[:71])

    async def image_id(self, image: str) -> str | None:
        self._answer()
        return self._local_image(image)

    async def image_created(self, image_id: str) -> datetime | None:
        self._answer()
        known = image_id in self.images.values() or image_id in self.registry.values()
        return self.image_built.get(image_id, IMAGE_BUILT) if known else None

    async def pull(self, image: str) -> None:
        self._answer()
        await asyncio.sleep(0)
        self.pulls.append(image)
        if self.pull_fails:
            raise RuntimeFailure(f"cannot pull {image}: the registry does not answer")
        self.missing_images.discard(image)
        if image in self.registry:
            self.images[image] = self.registry[image]

    async def claim_volume(self, name: str, labels: dict[str, str]) -> dict[str, str]:
        self._answer()
        await asyncio.sleep(0)
        return dict(self.volumes.setdefault(name, dict(labels)))

    async def remove_volume(self, name: str) -> None:
        self._answer()
        self.volumes.pop(name, None)

    async def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerEvent]:
        self._answer()
        queue: asyncio.Queue[ContainerEvent | None] = asyncio.Queue()
        self._watchers.append(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    raise DaemonUnreachable("the Docker event stream broke")
                if all(event.labels.get(key) == value for key, value in labels.items()):
                    yield event
        finally:
            self._watchers.remove(queue)

    async def create_and_start(self, spec: ContainerSpec) -> ContainerInfo:
        return await self._create(spec, start=True)

    async def create(self, spec: ContainerSpec) -> ContainerInfo:
        return await self._create(spec, start=False)

    async def start_created(self, container_id: str, name: str) -> ContainerInfo:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer()
            if self.start_delay is not None:
                await self.start_delay.wait()
            await asyncio.sleep(0)
            info = self.containers.get(container_id)
            if info is None:
                raise RuntimeFailure(f"cannot start {name}: no such container")
            try:
                if self.fail_next_starts > 0:
                    self.fail_next_starts -= 1
                    raise RuntimeFailure(f"cannot start {name}: injected failure")
                self._check_ports(self.specs[container_id])
            except RuntimeFailure:
                await self.stop_and_remove(container_id)  # as the Docker adapter: nothing left behind
                raise
            self.containers[container_id] = replace(info, running=True, never_started=False)
            self.starts.append(container_id)
            self.emit(container_id, ContainerAction.start)
            return self.containers[container_id]
        finally:
            self.in_flight -= 1

    async def pause(self, container_id: str) -> None:
        self._answer()
        await asyncio.sleep(0)
        info = self.containers.get(container_id)
        if info is None or not info.running:
            raise RuntimeFailure(f"cannot pause {container_id[:12]}: not running")
        self.containers[container_id] = replace(info, running=False, paused=True)
        self.pauses.append(container_id)

    async def unpause(self, container_id: str, name: str) -> ContainerInfo:
        self._answer()
        if self.start_delay is not None:
            await self.start_delay.wait()
        await asyncio.sleep(0)
        info = self.containers.get(container_id)
        if info is None or not info.paused:
            raise RuntimeFailure(f"cannot unpause {name}: not paused")
        if self.fail_next_starts > 0:
            self.fail_next_starts -= 1
            await self.stop_and_remove(container_id)
            raise RuntimeFailure(f"cannot unpause {name}: injected failure")
        self.containers[container_id] = replace(info, running=True, paused=False)
        self.unpauses.append(container_id)
        return self.containers[container_id]

    def _check_ports(self, spec: ContainerSpec) -> None:
        held = [p.host_port for p in spec.published if p.host_port in self.foreign_listeners]
        if held:
            raise PortUnavailable(
                f"cannot start {spec.name}: Bind for 0.0.0.0:{held[0]} failed: port is already allocated"
            )

    async def _create(self, spec: ContainerSpec, *, start: bool) -> ContainerInfo:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer()
            if self.create_delay is not None:
                await self.create_delay.wait()
            await asyncio.sleep(0)
            if self.fail_next_creates > 0:
                self.fail_next_creates -= 1
                raise RuntimeFailure(f"cannot start {spec.name}: injected failure")
            image_id = self._local_image(spec.image)
            if image_id is None:
                raise ImageMissing(f"cannot create {spec.name}: image {spec.image} is not on the daemon")
            if start:
                self._check_ports(spec)
            if any(info.name == spec.name for info in self.containers.values()):
                raise RuntimeFailure(f"cannot create {spec.name}: the name is already in use")
            container_id = f"{next(self._ids):064x}"
            info = ContainerInfo(
                container_id, spec.name, start, dict(spec.labels), image_id=image_id, never_started=not start
            )
            self.containers[container_id] = info
            self.specs[container_id] = spec
            self.emit(container_id, ContainerAction.create)
            if start:
                self.emit(container_id, ContainerAction.start)
            return info
        finally:
            self.in_flight -= 1

    async def stop_and_remove(self, container_id: str) -> None:
        await asyncio.sleep(0)
        if self.fail_next_removes > 0:
            self.fail_next_removes -= 1
            raise RuntimeFailure(f"cannot remove container {container_id[:12]}: injected failure")
        found = self._resolve(container_id)
        if found is not None:
            if self.containers[found].running:
                self.emit(found, ContainerAction.die)
            self.emit(found, ContainerAction.destroy)
            del self.containers[found]

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        found = self._resolve(container_id)
        return self.containers[found] if found else None

    def _answer(self) -> None:
        if self.daemon_down:
            raise DaemonUnreachable("cannot reach the Docker daemon: Connection refused")

    async def list(self, labels: dict[str, str]) -> list[ContainerInfo]:
        self._answer()
        return [
            info
            for info in self.containers.values()
            if all(info.labels.get(key) == value for key, value in labels.items())
        ]

    async def disk_usage(self, labels: dict[str, str]) -> dict[str, int]:
        self._answer()
        self.disk_usage_calls += 1
        await asyncio.sleep(0)
        return {info.id: self.disk_use.get(info.id, 0) for info in await self.list(labels)}

    async def close(self) -> None:
        return None

    def _resolve(self, key: str) -> str | None:
        if key in self.containers:
            return key
        for container_id, info in self.containers.items():
            if info.name == key or container_id.startswith(key):
                return container_id
        return None
