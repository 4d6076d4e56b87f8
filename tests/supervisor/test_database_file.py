"""State that cannot silently vanish: the SQLite file carries a schema version (migrated up, a newer one
refused), and a file deleted or replaced under a running supervisor is written again from memory."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from acexy_events import started_event

from supervisor.store import SCHEMA_VERSION, Store, StoreError

pytestmark = pytest.mark.anyio


async def test_a_deleted_database_is_written_again_and_nothing_is_lost_at_restart(
    open_client: Any, auth: dict[str, str]
) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        path = Path(supervisor.config.env.db_path)
        engine = (await client.post("/provision/acestream", headers=auth)).json()
        started = started_event(engine["host_http_port"], session="s1")
        assert (await client.post("/events/stream_started", json=started, headers=auth)).status_code == 200
        first_seen = (await client.get(f"/engines/{engine['container_id']}")).json()["engine"]["first_seen"]
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        await supervisor.check_database()
        assert path.is_file()
        log = (await client.get("/events", params={"type": "database_rewritten"})).json()
        assert len(log) == 1
    async with open_client("standalone") as client:  # a restart reads the rewritten file
        active = (await client.get("/streams", params={"status": "started"})).json()
        assert [stream["id"] for stream in active] == ["abc|s1"]
        again = (await client.get(f"/engines/{engine['container_id']}")).json()["engine"]
        assert again["first_seen"] == first_seen and again["streams"] == ["abc|s1"]


async def test_an_untouched_database_is_left_alone(open_client: Any) -> None:
    async with open_client("standalone") as client:
        supervisor = client.app.state.supervisor
        await supervisor.check_database()
        assert (await client.get("/events", params={"type": "database_rewritten"})).json() == []


def test_a_database_of_the_first_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE engines (container_id TEXT PRIMARY KEY, container_name TEXT NOT NULL, vpn TEXT, "
        "host_http_port INTEGER NOT NULL, labels TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT "
        "NULL, state TEXT NOT NULL, gone_reason TEXT);"
    )
    old.close()
    store = Store(path)
    assert store.events(limit=10) == []
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_database_from_a_newer_supervisor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    sqlite3.connect(path).execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="written by a newer supervisor"):
        Store(path)
