"""Port lists in messages."""

from __future__ import annotations


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
