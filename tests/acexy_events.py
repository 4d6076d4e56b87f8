"""What acexy posts, shared by the supervisor tests."""

from __future__ import annotations

from typing import Any


def started_event(port: int, session: str, key: str = "abc") -> dict[str, Any]:
    """acexy's stream_started for a client that started a stream on the engine at localhost:port."""
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
    }
