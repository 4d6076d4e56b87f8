"""What acexy posts, shared by the supervisor tests."""

from __future__ import annotations

from typing import Any


def started_event(port: int, *, key: str = "abc", session: str = "s1", **extra: Any) -> dict[str, Any]:
    """What acexy posts: its own container id, the engine by host and port, is_live as 1."""
    return {
        "container_id": "acexy-7f3a",
        "engine": {"host": "localhost", "port": port},
        "stream": {"key_type": "content_id", "key": key},
        "session": {
            "playback_session_id": session,
            "stat_url": f"http://localhost:{port}/ace/stat/x/{session}",
            "command_url": f"http://localhost:{port}/ace/cmd/x/{session}",
            "is_live": 1,
        },
        "labels": {},
        **extra,
    }
