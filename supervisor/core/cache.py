"""Judging an engine's cache from its measured disk use (the cache loop measures; these decide).

The measure is the container's writable layer (Docker's SizeRw), where a disk-mode engine keeps its cache:
the engine itself reports cache figures only inside a playback session's stats, so an idle engine, the
one the cap is enforced on, reports nothing.
"""

from __future__ import annotations

# A drop smaller than this between two passes is noise (a log rotated, a temporary file), not the engine
# pruning its cache: pieces are megabytes each.
CLEANUP_MIN_DROP = 1 << 20


def pruned(previous: int | None, current: int) -> bool:
    """Whether the disk use shrank since the last pass by enough to be the engine cleaning its cache."""
    return previous is not None and previous - current >= CLEANUP_MIN_DROP


def over_cap(size: int | None, limit: int) -> bool:
    """Whether the measured disk use passed the profile's cap (an unmeasured engine never has)."""
    return size is not None and size > limit
