"""The Runtime on the docker SDK. Every SDK call is blocking, so each runs in a bounded thread pool.

It uses the SDK's low-level API: create + start is two daemon calls, with no extra inspect, so provisioning
through the supervisor costs about what a raw `docker run` costs.

docker-py wraps only the daemon's HTTP error answers in DockerException; a daemon that is down, restarting
or slow raises the bare `requests` errors. Both are failures of the runtime, so both become RuntimeFailure.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import RequestException
from requests.exceptions import Timeout as RequestsTimeout

from supervisor.runtime.base import (
    ContainerAction,
    ContainerEvent,
    ContainerInfo,
    ContainerSpec,
    DaemonUnreachable,
    ImageMissing,
    PortUnavailable,
    RuntimeFailure,
    port_unavailable,
)

T = TypeVar("T")

RESTART_TIMEOUT_S = 10  # seconds Docker gives a container to stop before it kills it on a restart
_STREAM_END = object()

DOCKER_ERRORS = (DockerException, RequestException)  # an error answer, or no answer at all


def _failure(error: BaseException) -> type[RuntimeFailure]:
    """No answer at all is the daemon's state; an answer that refuses is a failure of the action."""
    if isinstance(error, RequestsConnectionError | RequestsTimeout):
        return DaemonUnreachable
    if port_unavailable(str(error)):
        return PortUnavailable
    return RuntimeFailure


class DockerRuntime:
    def __init__(self, base_url: str | None = None, workers: int = 32) -> None:
        try:
            if base_url:
                self._client = docker.DockerClient(base_url=base_url, max_pool_size=workers)
            else:
                self._client = docker.from_env(max_pool_size=workers)
        except DOCKER_ERRORS as error:
            raise RuntimeFailure(
                f"cannot reach the Docker daemon ({base_url or 'DOCKER_HOST'}): {error}"
            ) from None
        self._api = self._client.api
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker")

    async def _call(self, action: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(function, *args, **kwargs))
        except DOCKER_ERRORS as error:
            raise _failure(error)(f"cannot {action}: {error}") from None

    async def create_and_start(self, spec: ContainerSpec) -> ContainerInfo:
        return await self._call(f"create {spec.name}", self._create_and_start, spec)

    async def create(self, spec: ContainerSpec) -> ContainerInfo:
        return await self._call(f"create {spec.name}", self._create, spec)

    async def start_created(self, container_id: str, name: str) -> ContainerInfo:
        return await self._call(f"start {name}", self._start, container_id, name)

    async def pause(self, container_id: str) -> None:
        await self._call(f"pause container {container_id[:12]}", self._api.pause, container_id)

    async def unpause(self, container_id: str, name: str) -> ContainerInfo:
        return await self._call(f"unpause {name}", self._unpause, container_id, name)

    def _unpause(self, container_id: str, name: str) -> ContainerInfo:
        return self._run_or_remove("unpause", self._api.unpause, container_id, name)

    def _create_and_start(self, spec: ContainerSpec) -> ContainerInfo:
        created = self._create(spec)
        return replace(self._start(created.id, spec.name), labels=created.labels)

    def _create(self, spec: ContainerSpec) -> ContainerInfo:
        bindings: dict[int | str, Any] = {
            port.container_port: (port.host_ip or "", port.host_port) for port in spec.published
        }
        host_config = self._api.create_host_config(
            network_mode=spec.network_mode or spec.network,
            port_bindings=bindings or None,
            restart_policy={"Name": "unless-stopped"},
            tmpfs=dict(spec.tmpfs) or None,
        )
        # The raw API shape: the SDK's helper types are mis-annotated in types-docker.
        networking: dict[str, Any] | None = (
            {"EndpointsConfig": {spec.network: {}}} if spec.network and not spec.network_mode else None
        )
        arguments: dict[str, Any] = {
            "name": spec.name,
            "environment": spec.environment,
            "labels": spec.labels,
            "host_config": host_config,
            "ports": list(bindings) or None,
            "networking_config": networking,
        }
        try:
            created = self._api.create_container(spec.image, **arguments)
        except ImageNotFound:  # never pulled here: a pull can outlast any proxy's timeout
            raise ImageMissing(
                f"cannot create {spec.name}: image {spec.image} is not on the daemon"
            ) from None
        except DOCKER_ERRORS as error:
            raise _failure(error)(f"cannot create {spec.name} from {spec.image}: {error}") from None
        return ContainerInfo(created["Id"], spec.name, False, dict(spec.labels), never_started=True)

    def _start(self, container_id: str, name: str) -> ContainerInfo:
        return self._run_or_remove("start", self._api.start, container_id, name)

    def _run_or_remove(
        self, verb: str, call: Callable[[str], object], container_id: str, name: str
    ) -> ContainerInfo:
        """Start or thaw a container; on any failure remove it. A timeout does not mean it did not run:
        removing it lets the caller free its port."""
        try:
            call(container_id)
        except DOCKER_ERRORS as error:
            with contextlib.suppress(*DOCKER_ERRORS):
                self._remove(container_id)
            raise _failure(error)(f"cannot {verb} {name}: {error}") from None
        return ContainerInfo(container_id, name, True, {})

    async def stop_and_remove(self, container_id: str) -> None:
        await self._call(f"remove container {container_id[:12]}", self._remove, container_id)

    def _remove(self, container_id: str) -> None:
        try:
            self._api.remove_container(container_id, force=True)
        except NotFound:
            return
        except APIError as error:
            if error.status_code != 409:  # 409: removal already in progress
                raise

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        return await self._call(f"inspect container {container_id[:12]}", self._inspect, container_id)

    def _inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            attrs = self._api.inspect_container(container_id)
        except NotFound:
            return None
        info = _info(
            attrs["Id"],
            attrs["Name"],
            bool(attrs["State"]["Running"]) and not attrs["State"].get("Paused"),
            attrs["Config"].get("Labels"),
            attrs.get("NetworkSettings", {}).get("Networks"),
        )
        state = attrs["State"]
        return replace(
            info,
            started_at=state.get("StartedAt"),
            never_started=state.get("Status") == "created",
            paused=bool(state.get("Paused")),
            image_id=attrs.get("Image"),
        )

    async def list(self, labels: dict[str, str]) -> list[ContainerInfo]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        rows = await self._call("list containers", self._api.containers, all=True, filters=filters)
        return [
            replace(
                _info(
                    row["Id"],
                    (row.get("Names") or [row["Id"][:12]])[0],
                    row.get("State") == "running",
                    row.get("Labels"),
                    row.get("NetworkSettings", {}).get("Networks"),
                ),
                never_started=row.get("State") == "created",
                paused=row.get("State") == "paused",
                image_id=row.get("ImageID"),
            )
            for row in rows
        ]

    async def disk_usage(self, labels: dict[str, str]) -> dict[str, int]:
        filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
        rows = await self._call(
            "measure containers' disk use", self._api.containers, all=True, filters=filters, size=True
        )
        return {row["Id"]: int(row.get("SizeRw") or 0) for row in rows}

    async def image_id(self, image: str) -> str | None:
        return await self._call(f"inspect image {image}", self._image_id, image)

    def _image_id(self, image: str) -> str | None:
        try:
            return str(self._api.inspect_image(image)["Id"])  # type: ignore[no-untyped-call]
        except (ImageNotFound, NotFound):
            return None

    async def image_created(self, image_id: str) -> datetime | None:
        return await self._call(f"inspect image {image_id[:19]}", self._image_created, image_id)

    def _image_created(self, image_id: str) -> datetime | None:
        try:
            created = str(self._api.inspect_image(image_id)["Created"])  # type: ignore[no-untyped-call]
        except (ImageNotFound, NotFound):
            return None
        return docker_time(created)

    async def pull(self, image: str) -> None:
        await self._call(f"pull {image}", self._api.pull, image)

    async def restart(self, container_id: str) -> None:
        await self._call(
            f"restart container {container_id[:12]}",
            self._api.restart,
            container_id,
            timeout=RESTART_TIMEOUT_S,
        )

    async def claim_volume(self, name: str, labels: dict[str, str]) -> dict[str, str]:
        # Docker answers a create of an existing name with the existing volume, labels unchanged.
        created = await self._call(f"create volume {name}", self._api.create_volume, name, labels=labels)
        return dict(created.get("Labels") or {})

    async def remove_volume(self, name: str) -> None:
        await self._call(f"remove volume {name}", self._remove_volume, name)

    def _remove_volume(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self._api.remove_volume(name, force=True)

    async def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerEvent]:
        """Docker's event stream (GET /events), read by a thread of its own: it blocks for as long as it
        is open, so it must not hold one of the pool's workers. Docker filters on the labels; a stream that
        ends or fails raises DaemonUnreachable."""
        filters = {"type": ["container"], "label": [f"{key}={value}" for key, value in labels.items()]}
        stream = await self._call("watch container events", self._api.events, filters=filters, decode=True)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def put(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def pump() -> None:
            try:
                for raw in stream:
                    put(raw)
            except Exception as error:  # the connection broke (or was closed by us)
                put(error)
            else:
                put(_STREAM_END)

        threading.Thread(target=pump, name="docker-events", daemon=True).start()
        try:
            while True:
                item = await queue.get()
                if item is _STREAM_END or isinstance(item, BaseException):
                    raise DaemonUnreachable(f"the Docker event stream ended: {item or 'closed'}")
                event = _event(item)
                if event is not None and all(event.labels.get(k) == v for k, v in labels.items()):
                    yield event
        finally:
            with contextlib.suppress(Exception):
                stream.close()

    async def close(self) -> None:
        await self._call("close the Docker client", self._client.close)
        self._pool.shutdown(wait=False)


def _event(raw: object) -> ContainerEvent | None:
    """One decoded event of Docker's stream; None for the actions the supervisor does not follow."""
    if not isinstance(raw, dict) or raw.get("Type") != "container":
        return None
    word, _, health = str(raw.get("Action", "")).partition(": ")
    try:
        action = ContainerAction(word)
    except ValueError:
        return None
    actor = raw.get("Actor") or {}
    attributes = dict(actor.get("Attributes") or {})
    name = attributes.pop("name", None)
    for key in ("image", "exitCode", "signal", "execDuration"):  # Docker's own, not the labels
        attributes.pop(key, None)
    return ContainerEvent(str(actor.get("ID", "")), action, name, attributes, health or None)


def _info(
    container_id: str,
    name: str,
    running: bool,
    labels: dict[str, str] | None,
    networks: dict[str, Any] | None,
) -> ContainerInfo:
    networks = networks or {}
    addresses = {key: value["IPAddress"] for key, value in networks.items() if value.get("IPAddress")}
    return ContainerInfo(
        container_id, name.lstrip("/"), running, dict(labels or {}), addresses, tuple(networks)
    )


def docker_time(text: str) -> datetime | None:
    """Docker's RFC 3339 times carry nanoseconds (`2026-11-01T10:00:00.123456789Z`); Python reads up to
    microseconds. None for what is no time (Docker's zero time among them)."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(itertools.takewhile(str.isdigit, rest))
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None and when.year > 1 else None
