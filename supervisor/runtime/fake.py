"""An in-memory runtime for fast tests: containers are records; failures and delays are injectable."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

from supervisor.runtime.base import (
    ContainerInfo,
    ContainerSpec,
    DaemonUnreachable,
    PortUnavailable,
    RuntimeFailure,
)


class FakeRuntime:
    def __init__(self) -> None:
        self.containers: dict[str, ContainerInfo] = {}
        self.specs: dict[str, ContainerSpec] = {}
        self.fail_next_creates = 0
        self.fail_next_removes = 0
        self.create_delay: asyncio.Event | None = None  # when set, creates wait for it
        self.in_flight = 0
        self.max_in_flight = 0
        self.foreign_listeners: set[int] = set()  # host ports some other program holds
        self.daemon_down = False  # every call fails as a daemon that does not answer
        self._ids = itertools.count(1)

    def add(
        self,
        name: str,
        labels: dict[str, str],
        *,
        ip: str | None = None,
        running: bool = True,
        started_at: str | None = None,
        never_started: bool = False,
    ) -> str:
        """Put a container in place as if something else had created it (a gluetun, an old engine)."""
        container_id = f"{next(self._ids):064x}"
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
        return container_id

    def kill(self, container_id: str) -> None:
        self.containers[container_id] = replace(self.containers[container_id], running=False)

    def restart(self, container_id: str) -> None:
        """As `docker restart`: same id, a new start time (and a new network namespace)."""
        info = self.containers[container_id]
        self.containers[container_id] = replace(info, running=True, started_at=f"{info.started_at or ''}+")

    async def create_and_start(self, spec: ContainerSpec) -> ContainerInfo:
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
            held = [p.host_port for p in spec.published if p.host_port in self.foreign_listeners]
            if held:
                raise PortUnavailable(
                    f"cannot start {spec.name}: Bind for 0.0.0.0:{held[0]} failed: port is already allocated"
                )
            if any(info.name == spec.name for info in self.containers.values()):
                raise RuntimeFailure(f"cannot start {spec.name}: the name is already in use")
            container_id = f"{next(self._ids):064x}"
            info = ContainerInfo(container_id, spec.name, True, dict(spec.labels))
            self.containers[container_id] = info
            self.specs[container_id] = spec
            return info
        finally:
            self.in_flight -= 1

    async def stop_and_remove(self, container_id: str) -> None:
        await asyncio.sleep(0)
        if self.fail_next_removes > 0:
            self.fail_next_removes -= 1
            raise RuntimeFailure(f"cannot remove container {container_id[:12]}: injected failure")
        self.containers.pop(self._resolve(container_id) or "", None)

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

    async def close(self) -> None:
        return None

    def _resolve(self, key: str) -> str | None:
        if key in self.containers:
            return key
        for container_id, info in self.containers.items():
            if info.name == key or container_id.startswith(key):
                return container_id
        return None
