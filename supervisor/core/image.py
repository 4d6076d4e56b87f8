"""The engine image the supervisor creates engines from: which id is current, and whether it is there.

Pulled (or checked) at start-up and every `image_check_interval_s`, never inside a provision request: a
pull can outlast any proxy's timeout. An engine made from another image id than the current one is
drift: replaced once it carries no stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ImageState:
    current_id: str | None = None  # the id the engine image's reference names now (None: not known yet)
    missing: str | None = None  # why provisioning cannot work: the image is not on the daemon
    checked_at: datetime | None = None
    pull_failure: str | None = None  # the last pull's error (the local image is used meanwhile)
    # When each image id the engines run (and the current one) was built: an engine's image age. Looked
    # up once per id, by the image loop.
    built: dict[str, datetime] = field(default_factory=dict)


def outdated(engine_image_id: str | None, current_id: str | None) -> bool:
    """An engine runs an older image than the current one (unknown ids are never judged)."""
    return engine_image_id is not None and current_id is not None and engine_image_id != current_id
