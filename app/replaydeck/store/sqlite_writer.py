"""Appends to SQLite on one writer thread: a whole transaction per hop, not a statement.

Through aiosqlite every statement is several round trips between the event loop
and the driver's thread (cursor, execute, fetch, close), and each waits for a
turn of the loop. With a thousand live tails keeping the loop busy, an append
of five statements then takes tens of milliseconds of waiting. Here the same
SQLAlchemy Core statements run on a synchronous engine for the same file, in
one dedicated thread, so a batch (see group_commit.py) is a single hop. SQLite
allows one writer at a time anyway, so one thread loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event

from replaydeck.errors import ReplaydeckError, StoreUnavailable
from replaydeck.store.base import AppendResult, StampDraft, commit_drafts
from replaydeck.store.engine import is_unavailable
from replaydeck.store.group_commit import AppendRequest, Assign, Outcomes, RowToRecord, write_batch


def _json_serializer(value: Any) -> str:
    return orjson.dumps(value).decode()


class SqliteWriter:
    """The sync twin of the store's async engine, used only to append."""

    def __init__(self, url: sa.URL, *, synchronous: int, busy_timeout_ms: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self.engine = sa.create_engine(
            url.set(drivername="sqlite"),
            json_serializer=_json_serializer,
            json_deserializer=orjson.loads,
            # Created, used and closed on the writer thread only.
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            pool_size=1,
        )

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # The async engine's pragmas (store/engine.py), read back from it,
            # and the same recipe for emitting BEGIN IMMEDIATE ourselves.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={int(synchronous)}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        # Kept checked out on the writer thread: a pool checkout and its reset
        # (a ROLLBACK) per transaction were a tenth of a small append.
        self._connection: sa.Connection | None = None

        @event.listens_for(self.engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @classmethod
    async def like(cls, engine: Any) -> SqliteWriter:
        """A writer for the same file with the same durability as `engine`."""
        async with engine.connect() as connection:
            synchronous = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar_one()
            busy = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        return cls(engine.url, synchronous=int(synchronous), busy_timeout_ms=int(busy))

    def submit(
        self,
        requests: Sequence[AppendRequest],
        *,
        assign: Assign,
        to_record: RowToRecord,
        done: Callable[[Outcomes | BaseException], None],
    ) -> None:
        """Write on the writer thread, then call `done` on the running loop with
        one outcome per request (or the exception that failed them all)."""
        loop = asyncio.get_running_loop()

        def job() -> None:
            outcome: Outcomes | BaseException
            try:
                outcome = self._write(requests, assign, to_record)
            except BaseException as e:  # reported on the loop, whatever it was
                outcome = e
            # RuntimeError: the loop has closed, and nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(done, outcome)

        self._executor.submit(job)

    def _write(
        self, requests: Sequence[AppendRequest], assign: Assign, to_record: RowToRecord
    ) -> list[AppendResult | Exception]:
        try:
            return list(self._transaction(requests, assign, to_record))
        except Exception as e:
            if len(requests) == 1:
                return [e]
        # The shared transaction failed as a whole, not by one request's rule:
        # write each alone, so no request fails for another's sake.
        outcomes: list[AppendResult | Exception] = []
        for request in requests:
            try:
                outcomes.extend(self._transaction([request], assign, to_record))
            except Exception as e:
                outcomes.append(e)
        return outcomes

    def _transaction(
        self, requests: Sequence[AppendRequest], assign: Assign, to_record: RowToRecord
    ) -> list[AppendResult | ReplaydeckError]:
        drafts: dict[str, StampDraft] = {}
        try:
            connection = self._connect()
            with connection.begin():
                outcomes = write_batch(
                    connection, requests, assign=assign, to_record=to_record, drafts=drafts
                )
        except Exception as e:
            # Locked past busy_timeout, disk full, file gone: retry later (503).
            if is_unavailable(e):
                raise StoreUnavailable() from e
            raise
        # Only now: a rolled-back transaction's stamps must not move the stampers on.
        # Never raises: raised past a commit, the batch would be retried and stored twice.
        commit_drafts(drafts.values())
        return outcomes

    def _connect(self) -> sa.Connection:
        if self._connection is None or self._connection.invalidated:
            if self._connection is not None:
                self._connection.close()
            self._connection = self.engine.connect()
        return self._connection

    def _dispose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.engine.dispose()

    def close(self) -> None:
        self._executor.submit(self._dispose).result()
        self._executor.shutdown(wait=True)
