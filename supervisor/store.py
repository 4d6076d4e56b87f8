"""SQLite persistence (WAL) of engines and streams, so a restarted supervisor knows its history.

Docker is the truth about which engines run; the store remembers what Docker cannot: when an engine was
first seen, and every stream. Writes are small single-row statements, done inline on the event loop.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from supervisor.core.events import EVENT_RETENTION, EventType
from supervisor.core.records import STREAM_RETENTION, Engine, KeyType, Stream, StreamStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS engines (
    container_id TEXT PRIMARY KEY,
    container_name TEXT NOT NULL,
    vpn TEXT,
    host_http_port INTEGER NOT NULL,
    labels TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    state TEXT NOT NULL,            -- running | gone
    gone_reason TEXT
);
CREATE TABLE IF NOT EXISTS streams (
    id TEXT PRIMARY KEY,
    key_type TEXT NOT NULL,
    key TEXT NOT NULL,
    container_id TEXT NOT NULL,
    playback_session_id TEXT NOT NULL,
    stat_url TEXT NOT NULL,
    command_url TEXT NOT NULL,
    is_live INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    end_reason TEXT
);
CREATE INDEX IF NOT EXISTS streams_by_status ON streams (status, container_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    engine_id TEXT,
    engine_name TEXT,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);
"""


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    type: EventType
    engine_id: str | None
    engine_name: str | None
    message: str


# The schema's version (PRAGMA user_version). 1: engines and streams; 2: the event log. Each step up is a
# migration below; a file from a newer supervisor is refused rather than misread.
SCHEMA_VERSION = 2
MIGRATIONS = {2: "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, "
                 "type TEXT NOT NULL, engine_id TEXT, engine_name TEXT, message TEXT NOT NULL)"}  # fmt: skip


class StoreError(Exception):
    """The database cannot be used as it is; the message says why and what to do."""


class Store:
    def __init__(self, path: Path | str, on_event: Callable[[EventType], None] | None = None) -> None:
        self._path = None if str(path) == ":memory:" else Path(path)
        self._on_event = on_event  # told of each event logged (the events_total metric)
        # What this store wrote that is still current, so a database file deleted or replaced under a
        # running supervisor can be written again from memory (see ensure_file).
        self._engines: dict[str, Engine] = {}
        self._active: dict[str, Stream] = {}
        self._ended_saved = 0  # ended streams saved since start: every 100th prunes the history
        self._db = self._open()
        # The newest event's id: a live feed (GET /events/stream) compares it to what it sent, without SQL.
        self.newest_event_id = self._newest_event_id()
        # Streams active at the last stop are current too (restored onto their engines at start).
        self._active = {stream.id: stream for stream in self.streams(StreamStatus.started)}

    def _open(self) -> sqlite3.Connection:
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self._path or ":memory:"), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            db.close()
            raise StoreError(
                f"{self._path}: written by a newer supervisor (schema {version}, this one knows up to "
                f"{SCHEMA_VERSION}); run that version, or move the file away to start afresh"
            )
        fresh = not db.execute("SELECT name FROM sqlite_master WHERE name = 'engines'").fetchone()
        db.executescript(SCHEMA)
        for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
            if not fresh:
                db.executescript(MIGRATIONS[step])
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._identity = self._file_identity()
        return db

    def _file_identity(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    def ensure_file(self) -> bool:
        """True when the database file was found deleted or replaced and was written again from memory:
        every engine this supervisor holds and every active stream (the ended history is what was lost)."""
        if self._path is None or self._file_identity() == self._identity is not None:
            return False
        with contextlib.suppress(sqlite3.Error):
            self._db.close()  # checkpoints into the old file and removes its -wal, which is not the new one's
        if not self._path.exists():
            for leftover in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{self._path}{leftover}").unlink()
        self._db = self._open()
        self.newest_event_id = self._newest_event_id()  # the new file's: a live feed starts again from it
        for engine in self._engines.values():
            self.save_engine(engine)
        for stream in self._active.values():
            self.save_stream(stream)
        return True

    def close(self) -> None:
        self._db.close()

    def save_engine(self, engine: Engine) -> None:
        self._engines[engine.container_id] = engine
        self._db.execute(
            "INSERT INTO engines VALUES (?, ?, ?, ?, ?, ?, ?, 'running', NULL) ON CONFLICT (container_id) DO "
            "UPDATE SET last_seen = excluded.last_seen, state = 'running', gone_reason = NULL",
            (
                engine.container_id,
                engine.container_name,
                engine.slot.vpn,
                engine.host_http_port,
                json.dumps(engine.labels),
                engine.first_seen.isoformat(),
                engine.last_seen.isoformat(),
            ),
        )

    def first_seen(self, container_id: str) -> datetime | None:
        row = self._db.execute(
            "SELECT first_seen FROM engines WHERE container_id = ?", (container_id,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def mark_engine_gone(self, container_id: str, reason: str, at: datetime) -> None:
        self._engines.pop(container_id, None)
        self._db.execute(
            "UPDATE engines SET state = 'gone', gone_reason = ?, last_seen = ? WHERE container_id = ?",
            (reason, at.isoformat(), container_id),
        )

    def running_engine_ids(self) -> set[str]:
        return {
            row[0] for row in self._db.execute("SELECT container_id FROM engines WHERE state = 'running'")
        }

    def engine_state(self, container_id: str) -> tuple[str, str | None] | None:
        row = self._db.execute(
            "SELECT state, gone_reason FROM engines WHERE container_id = ?", (container_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def save_stream(self, stream: Stream) -> None:
        if stream.status is StreamStatus.started:
            self._active[stream.id] = stream
        else:
            self._active.pop(stream.id, None)
        if stream.status is StreamStatus.ended:
            self._ended_saved += 1
            if self._ended_saved % 100 == 0:
                self.prune_ended_streams()
        self._db.execute(
            "INSERT OR REPLACE INTO streams VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stream.id,
                stream.key_type.value,
                stream.key,
                stream.container_id,
                stream.playback_session_id,
                stream.stat_url,
                stream.command_url,
                int(stream.is_live),
                stream.started_at.isoformat(),
                stream.ended_at.isoformat() if stream.ended_at else None,
                stream.status.value,
                stream.end_reason,
            ),
        )

    def delete_stream(self, stream_id: str) -> None:
        """Drop a stream's record (DELETE /streams/{id}; its end stays in the event log)."""
        self._active.pop(stream_id, None)
        self._db.execute("DELETE FROM streams WHERE id = ?", (stream_id,))

    def active_keys(self) -> dict[str, set[str]]:
        """Engine id -> the keys of its started streams, from memory (no query)."""
        keys: dict[str, set[str]] = {}
        for stream in self._active.values():
            keys.setdefault(stream.container_id, set()).add(stream.key)
        return keys

    def stream(self, stream_id: str) -> Stream | None:
        row = self._db.execute("SELECT * FROM streams WHERE id = ?", (stream_id,)).fetchone()
        return _stream(row) if row else None

    def streams(
        self,
        status: StreamStatus | None = None,
        container_id: str | None = None,
        *,
        key: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Stream]:
        """Oldest first; with `limit`, the newest `limit` of them (still oldest first)."""
        query, arguments = "SELECT * FROM streams WHERE 1 = 1", []
        if status is not None:
            query += " AND status = ?"
            arguments.append(status.value)
        if container_id is not None:
            query += " AND container_id = ?"
            arguments.append(container_id)
        if key is not None:
            query += " AND key = ?"
            arguments.append(key)
        if since is not None:
            query += " AND started_at > ?"
            arguments.append(since.isoformat())
        if limit is None:
            return [_stream(row) for row in self._db.execute(query + " ORDER BY started_at", arguments)]
        newest = self._db.execute(query + " ORDER BY started_at DESC LIMIT ?", [*arguments, limit])
        return [_stream(row) for row in reversed(newest.fetchall())]

    def prune_ended_streams(self, keep: int = STREAM_RETENTION) -> int:
        """Drop all but the newest `keep` ended streams (active ones are never dropped); how many went."""
        cursor = self._db.execute(
            "DELETE FROM streams WHERE status = 'ended' AND id NOT IN "
            "(SELECT id FROM streams WHERE status = 'ended' ORDER BY ended_at DESC LIMIT ?)",
            (keep,),
        )
        return cursor.rowcount

    def count_streams(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM streams").fetchone()[0])

    def record_event(self, kind: EventType, message: str, at: datetime, engine: Engine | None = None) -> None:
        """Log one decision; only the newest EVENT_RETENTION events are kept."""
        cursor = self._db.execute(
            "INSERT INTO events (at, type, engine_id, engine_name, message) VALUES (?, ?, ?, ?, ?)",
            (
                at.isoformat(),
                kind.value,
                engine.container_id if engine else None,
                engine.container_name if engine else None,
                message,
            ),
        )
        if self._on_event is not None:
            self._on_event(kind)
        newest = cursor.lastrowid or 0
        self.newest_event_id = max(self.newest_event_id, newest)
        if newest % 100 == 0:
            self._db.execute("DELETE FROM events WHERE id <= ?", (newest - EVENT_RETENTION,))

    def events(
        self,
        limit: int,
        since: datetime | None = None,
        kind: EventType | None = None,
        engine: str | None = None,
    ) -> list[Event]:
        """Newest first; `engine` matches a container id, its 12-character prefix, or its name."""
        query, arguments = "SELECT * FROM events WHERE 1 = 1", []
        if since is not None:
            query += " AND at > ?"
            arguments.append(since.isoformat())
        if kind is not None:
            query += " AND type = ?"
            arguments.append(kind.value)
        if engine is not None:
            query += (
                " AND (engine_id = ? OR engine_name = ? OR (length(?) >= 12 AND engine_id LIKE ? || '%'))"
            )
            arguments += [engine, engine, engine, engine]
        rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", [*arguments, limit])
        return [_event(row) for row in rows]

    def events_after(self, event_id: int, limit: int) -> list[Event]:
        """The events recorded after `event_id`, oldest first, at most `limit` (the oldest of them)."""
        rows = self._db.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit))
        return [_event(row) for row in rows]

    def _newest_event_id(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])


def _event(r: tuple[Any, ...]) -> Event:
    return Event(int(r[0]), datetime.fromisoformat(r[1]), EventType(r[2]), r[3], r[4], str(r[5]))


def _stream(row: tuple[object, ...]) -> Stream:
    (identifier, key_type, key, container_id, session, stat_url, command_url, is_live, started, ended) = row[
        :10
    ]
    return Stream(
        id=str(identifier),
        key_type=KeyType(str(key_type)),
        key=str(key),
        container_id=str(container_id),
        playback_session_id=str(session),
        stat_url=str(stat_url),
        command_url=str(command_url),
        is_live=bool(is_live),
        started_at=datetime.fromisoformat(str(started)),
        ended_at=datetime.fromisoformat(str(ended)) if ended else None,
        status=StreamStatus(str(row[10])),
        end_reason=str(row[11]) if row[11] is not None else None,
    )
