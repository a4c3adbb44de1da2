""" "Are there any keys?" answered on the event loop, for SQLite.

In open mode every /v1 request asks it, and the answer "no" cannot be kept: the
first key made by `replaydeck keys create` in another process must close the API
at once. Through aiosqlite each asking is a hop to a worker thread and back, and
under load that hop was the biggest part of a one-event append. The question itself
is one indexed lookup that SQLite answers in microseconds from its page cache, and
a WAL reader never waits for the writer, so it is asked here, synchronously, on a
connection of its own (the stdlib driver: aiosqlite would bring the hop back).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

_ACTIVE = "SELECT 1 FROM api_keys WHERE revoked_at_us IS NULL LIMIT 1"
_ANY = "SELECT 1 FROM api_keys LIMIT 1"
# If the database is ever locked past this, the probe says "don't know" and the
# caller asks through the async engine instead of stalling the loop.
_BUSY_TIMEOUT_MS = 20


class SqliteKeyProbe:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def for_url(cls, url: sa.URL) -> SqliteKeyProbe | None:
        """A probe for a SQLite file, or None (another database, or one in memory)."""
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return cls(Path(url.database))

    def has_keys(self, *, active_only: bool) -> bool | None:
        """Whether an active key (or any key, revoked too) exists; None when SQLite
        could not say now."""
        try:
            if self._connection is None:
                # mode=rw: a missing file is an error here, never a new empty database.
                self._connection = sqlite3.connect(
                    f"{self._path.resolve().as_uri()}?mode=rw",
                    uri=True,
                    timeout=_BUSY_TIMEOUT_MS / 1000,
                    check_same_thread=False,
                )
                self._connection.execute("PRAGMA query_only=1")
            query = _ACTIVE if active_only else _ANY
            return self._connection.execute(query).fetchone() is not None
        except sqlite3.Error:
            self.close()
            return None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
