"""The log on SQLAlchemy Core: SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from replaydeck.errors import (
    InvalidParameter,
    SessionExists,
    SessionNotFound,
    StoreUnavailable,
)
from replaydeck.events import NewEvent
from replaydeck.live.pg_notify import DELETED, notify_statement
from replaydeck.store.base import (
    AppendResult,
    EventRow,
    SessionPage,
    SessionRecord,
    SessionStatus,
    Stamper,
    StoredEvent,
    StoredHook,
    announce,
    commit_drafts,
)
from replaydeck.store.group_commit import AppendRequest, GroupCommitter, Outcomes
from replaydeck.store.sequencing import assign
from replaydeck.store.session_locks import SessionLocks
from replaydeck.store.sqlite_writer import SqliteWriter
from replaydeck.store.tables import events, sessions, shares
from replaydeck.store.transactions import reading, transaction

# SQLite allows 32766 bound parameters; stay far below for IN (...) lookups.
_ID_CHUNK = 500
_EVENT_COLUMNS = (events.c.seq, events.c.id, events.c.type, events.c.ts_us, events.c.envelope)

# Read statements are built once: building a select() per page was a tenth of a
# catch-up's time (bench 6). SQLAlchemy caches their compiled form per dialect.
_AFTER = (events.c.session_id == sa.bindparam("session_id"), events.c.seq > sa.bindparam("after"))
_READ = sa.select(*_EVENT_COLUMNS).where(*_AFTER).order_by(events.c.seq)
_READ_PAGE = _READ.limit(sa.bindparam("limit"))
_ROWS = (
    sa.select(events.c.seq, events.c.type, events.c.ts_us, events.c.envelope)
    .where(*_AFTER)
    .order_by(events.c.seq)
    .limit(sa.bindparam("limit"))
)
_SQLITE_ROWS = (
    "SELECT seq, type, ts_us, envelope FROM events"
    " WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)


# /readyz reports the writer stuck once one batch has taken this long: a batch is at
# most 5,000 events and takes milliseconds, and SQLite's busy timeout is 10 s.
WRITER_STALL_S = 30.0


def now_us() -> int:
    return time.time_ns() // 1000


def _session(row: sa.Row[Any]) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        created_at_us=row.created_at_us,
        metadata=row.metadata,
        status=row.status,
        last_seq=row.last_seq,
        first_ts_us=row.first_ts_us,
        last_ts_us=row.last_ts_us,
        final_seq=row.final_seq,
        trace_id=row.trace_id,
        traceparent=row.traceparent,
    )


# A page boundary in the newest-first order, "<created_at_us>.<session id>". Any
# text of this form is a position, so every one is accepted (as /openapi.json
# says); 18 digits stay within 64 bits, and NUL is kept out of the database.
CURSOR = re.compile(r"^([0-9]{1,18})\.([^\x00]+)$")


def _encode_cursor(created_at_us: int, session_id: str) -> str:
    return f"{created_at_us}.{session_id}"


def _decode_cursor(cursor: str) -> tuple[int, str]:
    match = CURSOR.fullmatch(cursor)
    if match is None:
        raise InvalidParameter(
            f"The cursor {cursor[:40]!r} is not one replaydeck gave out; pass the "
            "'next_cursor' of the previous page unchanged, or omit it to start over."
        )
    return int(match[1]), match[2]


class SqlEventStore:
    def __init__(self, engine: AsyncEngine, *, writer_stall_s: float = WRITER_STALL_S) -> None:
        self.engine = engine
        self._writer_stall_s = writer_stall_s
        self._sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time anyway; queueing this store's other
        # writes (create, delete) here instead of on the file lock keeps the
        # thread pool free for readers. The group commit writer (below) meets
        # them at the file lock, for the length of one short transaction.
        self._write_lock = asyncio.Lock() if self._sqlite else None
        # One writer at a time also means concurrent appends can share one
        # transaction (group commit), written on one thread (sqlite_writer.py).
        # Not for an in-memory database, which a second engine would not see.
        on_disk = engine.url.database not in (None, "", ":memory:")
        self._group = GroupCommitter(self._submit_group) if self._sqlite and on_disk else None
        self._writer: SqliteWriter | None = None
        self._writer_ready: asyncio.Future[SqliteWriter] | None = None
        # PostgreSQL's row lock orders one session's appends, but their callers
        # resume in any order; taking turns here as well keeps stamps and
        # `on_stored` in commit order (the row lock would make them wait anyway).
        self._session_locks = SessionLocks()

    def _reading(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return reading(self.engine)

    def _writing(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, lock=self._write_lock)

    def _insert(self, table: sa.Table) -> Any:
        return (sqlite.insert if self._sqlite else postgresql.insert)(table)

    async def create_session(
        self,
        session_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        trace_id: str | None = None,
        traceparent: str | None = None,
    ) -> SessionRecord:
        record = SessionRecord(
            id=session_id,
            created_at_us=now_us(),
            metadata=metadata or {},
            status="open",
            last_seq=0,
            trace_id=trace_id,
            traceparent=traceparent,
        )
        try:
            async with self._writing() as connection:
                await connection.execute(
                    sessions.insert().values(
                        id=record.id,
                        created_at_us=record.created_at_us,
                        metadata=record.metadata,
                        status=record.status,
                        last_seq=0,
                        trace_id=trace_id,
                        traceparent=traceparent,
                    )
                )
        except IntegrityError:
            raise SessionExists(session_id) from None
        return record

    async def get_session(self, session_id: str) -> SessionRecord:
        async with self._reading() as connection:
            row = (
                await connection.execute(sa.select(sessions).where(sessions.c.id == session_id))
            ).first()
        if row is None:
            raise SessionNotFound(session_id)
        return _session(row)

    async def list_sessions(
        self,
        *,
        status: SessionStatus | None = None,
        metadata: dict[str, str] | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> SessionPage:
        query = sa.select(sessions).order_by(sessions.c.created_at_us.desc(), sessions.c.id.desc())
        if status is not None:
            query = query.where(sessions.c.status == status)
        for key, value in (metadata or {}).items():
            query = query.where(self._metadata_is(key, value))
        if cursor is not None:
            created_at_us, session_id = _decode_cursor(cursor)
            query = query.where(
                sa.tuple_(sessions.c.created_at_us, sessions.c.id)
                < sa.tuple_(sa.literal(created_at_us), sa.literal(session_id))
            )
        async with self._reading() as connection:
            rows = (await connection.execute(query.limit(limit + 1))).all()
        records = [_session(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = records[-1]
            next_cursor = _encode_cursor(last.created_at_us, last.id)
        return SessionPage(records, next_cursor)

    def _metadata_is(self, key: str, value: str) -> Any:
        if not self._sqlite:
            return sessions.c.metadata[key].as_string() == value
        # A SQLite JSON path cannot name a key holding '"' or '\\' (it matches
        # nothing, or is a malformed path: a driver error); json_each's keys are text.
        each = sa.func.json_each(sessions.c.metadata).table_valued("key", "value")
        return sa.exists().where(each.c.key == key, sa.cast(each.c.value, sa.String) == value)

    async def delete_session(self, session_id: str, *, only_if_empty: bool = False) -> None:
        async with self._writing() as connection:
            if only_if_empty:
                # One statement: an append that stored events meanwhile keeps it.
                empty = (sessions.c.id == session_id) & (sessions.c.last_seq == 0)
                await connection.execute(sessions.delete().where(empty))
                return
            await connection.execute(events.delete().where(events.c.session_id == session_id))
            await connection.execute(shares.delete().where(shares.c.session_id == session_id))
            result = await connection.execute(sessions.delete().where(sessions.c.id == session_id))
            if result.rowcount == 0:
                raise SessionNotFound(session_id)
            if not self._sqlite:
                await connection.execute(notify_statement(session_id, DELETED))

    async def append(
        self,
        session_id: str,
        events_in: Sequence[NewEvent],
        *,
        expected_seq: int | None = None,
        stamper: Stamper | None = None,
        on_stored: StoredHook | None = None,
    ) -> AppendResult:
        if self._group is not None:
            if self._writer is None:
                await self._open_writer()
            # One queue, one writer: commits follow the order of these calls.
            return await self._group.append(
                session_id,
                events_in,
                expected_seq,
                now_us(),
                stamper=stamper,
                on_stored=on_stored,
            )
        async with self._session_locks.hold(session_id):
            result = await self._append_one(session_id, events_in, expected_seq, now_us(), stamper)
            if on_stored is not None and result.appended:
                announce(on_stored, result)
        return result

    def _submit_group(
        self, requests: list[AppendRequest], done: Callable[[Outcomes | BaseException], None]
    ) -> None:
        """Hand a group commit's batch to the writer thread: one transaction."""
        assert self._writer is not None, "append() opens the writer first"
        self._writer.submit(requests, assign=assign, to_record=_session, done=done)

    async def _open_writer(self) -> None:
        # Once, shared by the appends that arrive while it opens.
        if self._writer_ready is None:
            self._writer_ready = asyncio.ensure_future(SqliteWriter.like(self.engine))
        self._writer = await asyncio.shield(self._writer_ready)

    async def _append_one(
        self,
        session_id: str,
        events_in: Sequence[NewEvent],
        expected_seq: int | None,
        received_us: int,
        stamper: Stamper | None,
    ) -> AppendResult:
        draft = None if stamper is None else stamper.draft()
        async with self._writing() as connection:
            session, created = await self._lock_session(connection, session_id, received_us)
            known = await self._known_ids(connection, session_id, events_in)
            stamp = None if draft is None else draft.stamp
            result = assign(session, events_in, known, received_us, expected_seq, stamp)
            if result.appended:
                await connection.execute(
                    events.insert(),
                    [
                        {
                            "session_id": session_id,
                            "seq": e.seq,
                            "id": e.id,
                            "type": e.type,
                            "ts_us": e.ts_us,
                            "envelope": e.envelope,
                        }
                        for e in result.appended
                    ],
                )
                after = result.session
                changes: dict[str, Any] = {
                    "last_seq": after.last_seq,
                    "first_ts_us": after.first_ts_us,
                    "last_ts_us": after.last_ts_us,
                    "status": after.status,
                    "final_seq": after.final_seq,
                }
                if after.metadata is not session.metadata:
                    changes["metadata"] = after.metadata
                await connection.execute(
                    sessions.update().where(sessions.c.id == session_id).values(**changes)
                )
                if not self._sqlite:
                    # Delivered to other replicas only if this transaction commits.
                    await connection.execute(notify_statement(session_id, after.last_seq))
        if draft is not None:
            commit_drafts([draft])  # the transaction committed
        if created:
            return AppendResult(result.session, result.seqs, result.appended, created=True)
        return result

    async def _lock_session(
        self, connection: AsyncConnection, session_id: str, received_us: int
    ) -> tuple[SessionRecord, bool]:
        """The session's row, created if missing and locked (PostgreSQL) for this append."""
        for _ in range(3):
            created = await self._ensure_session(connection, session_id, received_us)
            row = (
                await connection.execute(
                    sa.select(sessions).where(sessions.c.id == session_id).with_for_update()
                )
            ).first()
            # None: a DELETE committed between our insert and our lock (read
            # committed sees it); the append then starts the session anew.
            if row is not None:
                return _session(row), created
        raise StoreUnavailable(
            f"Session {session_id!r} was being deleted while this append ran, again and "
            "again; nothing was stored. Retry in a moment."
        )

    async def _ensure_session(
        self, connection: AsyncConnection, session_id: str, received_us: int
    ) -> bool:
        statement = (
            self._insert(sessions)
            .values(
                id=session_id,
                created_at_us=received_us,
                metadata={},
                status="open",
                last_seq=0,
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        result = await connection.execute(statement)
        return bool(result.rowcount)

    async def _known_ids(
        self, connection: AsyncConnection, session_id: str, events_in: Sequence[NewEvent]
    ) -> dict[str, int]:
        ids = list({e.id for e in events_in if e.id is not None})
        known: dict[str, int] = {}
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            rows = await connection.execute(
                sa.select(events.c.id, events.c.seq).where(
                    events.c.session_id == session_id, events.c.id.in_(chunk)
                )
            )
            known.update({row.id: row.seq for row in rows})
        return known

    async def read(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        query, params = _READ, {"session_id": session_id, "after": after}
        if limit is not None:
            query, params["limit"] = _READ_PAGE, limit
        async with self._reading() as connection:
            rows = await connection.execute(query, params)
            return [
                StoredEvent(seq, event_id, kind, ts_us, bytes(envelope))
                for seq, event_id, kind, ts_us, envelope in rows
            ]

    async def read_rows(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> Sequence[EventRow]:
        async with self._reading() as connection:
            if self._sqlite:
                # aiosqlite runs execute and fetchall in one hop to its thread and
                # returns the driver's own tuples; through SQLAlchemy the same page
                # is four hops and a Row per event, half a catch-up's time (bench 6).
                raw = await connection.get_raw_connection()
                driver = cast(aiosqlite.Connection, raw.driver_connection)
                # LIMIT -1 is SQLite's "no limit".
                page = (session_id, after, -1 if limit is None else limit)
                return cast(list[EventRow], await driver.execute_fetchall(_SQLITE_ROWS, page))
            # PostgreSQL's LIMIT NULL is "no limit".
            params = {"session_id": session_id, "after": after, "limit": limit}
            return cast(Sequence[EventRow], (await connection.execute(_ROWS, params)).all())

    async def ping(self) -> None:
        async with self._reading() as connection:
            await connection.execute(sa.text("SELECT 1"))
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
        await self.engine.dispose()
