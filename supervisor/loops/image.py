"""The engine image: pulled at start-up and every `image_check_interval_s`, never inside a provision.

A pull that fails (no registry, no network) keeps the local image in use; only an image that is not on
the daemon at all blocks provisioning (`image_missing` in status and refusals). A pull that brings a new
image id makes every engine of the old one drift: the reconciler replaces each once it is idle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from supervisor.core.events import EventType
from supervisor.provisioning import Provisioner
from supervisor.runtime.base import DaemonUnreachable, Runtime, RuntimeFailure
from supervisor.state import StackState

log = logging.getLogger("supervisor.image")


class ImageLoop:
    def __init__(
        self,
        state: StackState,
        runtime: Runtime,
        provisioner: Provisioner,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._state = state
        self._runtime = runtime
        self._provisioner = provisioner
        self._changed = changed

    async def tick(self, pull: bool = True) -> None:
        """Pull (unless the profile says never, or `pull` is false: the quick check at start-up), then
        read the image id the reference names now."""
        engine = self._state.config.stack.engine
        image = engine.image
        status = self._state.image
        if pull and engine.image_pull == "schedule":
            try:
                await self._runtime.pull(image)
                status.pull_failure = None
            except DaemonUnreachable:
                return  # nothing to judge: the daemon's own state says why
            except RuntimeFailure as error:
                status.pull_failure = str(error)
                log.warning("could not pull %s (the local image is used): %s", image, error)
        try:
            current = await self._runtime.image_id(image)
        except RuntimeFailure as error:
            log.warning("could not inspect %s: %s", image, error)
            return
        status.checked_at = self._state.clock.now()
        if current is None:
            if status.missing is None:
                log.error("the engine image %s is not on the daemon; provisioning cannot work", image)
            status.missing = f"the engine image {image} is not on the daemon" + (
                f" and could not be pulled ({status.pull_failure})" if status.pull_failure else ""
            )
            return
        status.missing = None
        await self._learn_build_times(current)
        if current != status.current_id:
            if status.current_id is not None:
                self._provisioner.record(
                    EventType.image_updated,
                    f"{image} is {current[:19]} now (was {status.current_id[:19]}): older engines are "
                    "replaced when idle",
                )
                log.info("engine image %s updated to %s", image, current[:19])
            status.current_id = current
            self._changed()

    async def _learn_build_times(self, current: str) -> None:
        """When the current image and each engine's image were built (once per id): an engine's image age
        on the dashboard. An id the daemon no longer has stays unknown."""
        built = self._state.image.built
        ids = {current} | {engine.image_id for engine in self._state.engines.values() if engine.image_id}
        for image_id in sorted(ids - built.keys()):
            try:
                created = await self._runtime.image_created(image_id)
            except RuntimeFailure as error:
                log.warning("could not inspect image %s: %s", image_id[:19], error)
                return
            if created is not None:
                built[image_id] = created
