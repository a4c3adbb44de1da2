"""The log on SQLite: one writer at a time, so concurrent appends share transactions.

Appends queue in a group committer and are written on one thread of their own
(group_commit.py, sqlite_writer.py); this store's other writes take an asyncio
lock rather than wait on the file lock in the thread pool. An in-memory database
(which a second engine would not see) appends on the shared path instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, cast

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from replaydeck.clock import now_us
from replaydeck.errors import StoreUnavailable
from replaydeck.events import NewEvent
from replaydeck.store.base import AppendResult, EventRow, Stamper, StoredHook
from replaydeck.store.group_commit import AppendRequest, GroupCommitter, Outcomes
from replaydeck.store.sequencing import assign
from replaydeck.store.sql import ROWS_WITHIN, SqlStore, session_record
from replaydeck.store.sqlite_writer import SqliteWriter
from replaydeck.store.tables import sessions

_ROWS = (
    "SELECT seq, type, ts_us, envelope FROM events"
    " WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)
_ROWS_WITHIN = ROWS_WITHIN.format(session_id="?1", after="?2", limit="?3", max_bytes="?4")
# /readyz reports the writer stuck once one batch has taken this long: a batch is at
# most 5,000 events and takes milliseconds, and SQLite's busy timeout is 10 s.
WRITER_STALL_S = 30.0


class SqliteEventStore(SqlStore):
    def __init__(self, engine: AsyncEngine, *, writer_stall_s: float = WRITER_STALL_S) -> None:
        super().__init__(engine)
        self._writer_stall_s = writer_stall_s
        # SQLite has one writer at a time anyway; queueing this store's other
        # writes (create, delete) here instead of on the file lock keeps the
        # thread pool free for readers. The group commit writer (below) meets
        # them at the file lock, for the length of one short transaction.
        self._write_lock = asyncio.Lock()
        on_disk = engine.url.database not in (None, "", ":memory:")
        self._group = GroupCommitter(self._submit_group) if on_disk else None
        self._writer: SqliteWriter | None = None
        self._writer_ready: asyncio.Future[SqliteWriter] | None = None

    def _insert(self, table: sa.Table) -> Any:
        return sqlite.insert(table)

    def _metadata_is(self, key: str, value: str) -> Any:
        # A SQLite JSON path cannot name a key holding '"' or '\\' (it matches
        # nothing, or is a malformed path: a driver error); json_each's keys are text.
        each = sa.func.json_each(sessions.c.metadata).table_valued("key", "value", "type")
        # json_each gives true/false as 1/0; PostgreSQL's ->> gives 'true'/'false',
        # which is what a filter says, so both backends answer ?metadata=flag=true.
        text = sa.case(
            (each.c.type == "true", "true"),
            (each.c.type == "false", "false"),
            else_=sa.cast(each.c.value, sa.String),
        )
        return sa.exists().where(each.c.key == key, text == value)

    async def append(
        self,
        session_id: str,
        events_in: Sequence[NewEvent],
        *,
        expected_seq: int | None = None,
        stamper: Stamper | None = None,
        on_stored: StoredHook | None = None,
    ) -> AppendResult:
        if self._group is None:
            return await super().append(
                session_id,
                events_in,
                expected_seq=expected_seq,
                stamper=stamper,
                on_stored=on_stored,
            )
        if self._writer is None:
            await self._open_writer()
        # One queue, one writer: commits follow the order of these calls.
        return await self._group.append(
            session_id, events_in, expected_seq, now_us(), stamper=stamper, on_stored=on_stored
        )

    def _submit_group(
        self, requests: list[AppendRequest], done: Callable[[Outcomes | BaseException], None]
    ) -> None:
        """Hand a group commit's batch to the writer thread: one transaction."""
        assert self._writer is not None, "append() opens the writer first"
        self._writer.submit(requests, assign=assign, to_record=session_record, done=done)

    async def _open_writer(self) -> None:
        # Once, shared by the appends that arrive while it opens.
        if self._writer_ready is None:
            self._writer_ready = asyncio.ensure_future(SqliteWriter.like(self.engine))
        self._writer = await asyncio.shield(self._writer_ready)

    async def read_rows(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[EventRow]:
        async with self._reading() as connection:
            # aiosqlite runs execute and fetchall in one hop to its thread and
            # returns the driver's own tuples; through SQLAlchemy the same page
            # is four hops and a Row per event, half a catch-up's time (bench 6).
            raw = await connection.get_raw_connection()
            driver = cast(aiosqlite.Connection, raw.driver_connection)
            # LIMIT -1 is SQLite's "no limit".
            page = (session_id, after, -1 if limit is None else limit)
            if max_bytes is None:
                return cast(list[EventRow], await driver.execute_fetchall(_ROWS, page))
            within = (*page, max_bytes)
            return cast(list[EventRow], await driver.execute_fetchall(_ROWS_WITHIN, within))

    async def ping(self) -> None:
        await super().ping()
        if self._group is not None and (busy := self._group.busy_for()) > self._writer_stall_s:
            raise StoreUnavailable(
                f"The SQLite writer has been writing one batch for {busy:.0f} s, so appends "
                "are not being stored; check the disk and the server's log."
            )

    async def close(self) -> None:
        if self._group is not None:
            await self._group.close()
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
        await super().close()
