"""What the SQL backends share: the statements, reads, sessions, and one append path.

Each backend is a module of its own (sqlite.py, postgres.py) with what only that
database needs: how appends are queued and committed, how other replicas hear of
them, and its fast paths. `open_store` picks the backend from the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from replaydeck.clock import now_us
from replaydeck.errors import (
    InvalidParameter,
    SessionExists,
    SessionNotFound,
    StoreUnavailable,
)
from replaydeck.events import NewEvent
from replaydeck.storable import flaw
from replaydeck.store import retention
from replaydeck.store.base import (
    AppendResult,
    EventRow,
    GcReport,
    SessionPage,
    SessionRecord,
    SessionStatus,
    Stamper,
    StoredEvent,
    StoredHook,
    announce,
    commit_drafts,
    stored_events,
)
from replaydeck.store.notices import DELETED
from replaydeck.store.sequencing import assign
from replaydeck.store.session_locks import SessionLocks
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
# A page that also ends at `max_bytes` of envelopes: the running sum is taken over
# the page's first `limit` rows only, and of their lengths (both backends give a
# binary value's length without reading it), so a page costs the same whatever
# the session holds after it.
ROWS_WITHIN = """
SELECT seq, type, ts_us, envelope FROM events
WHERE session_id = {session_id} AND seq > {after} AND seq <= (
    SELECT coalesce(max(seq), {after}) FROM (
        SELECT seq, sum(size) OVER (ORDER BY seq) - size AS before FROM (
            SELECT seq, length(envelope) AS size FROM events
            WHERE session_id = {session_id} AND seq > {after} ORDER BY seq LIMIT {limit}
        ) AS page
    ) AS sized WHERE before < {max_bytes}
)
ORDER BY seq LIMIT {limit}
"""
_ROWS_WITHIN = sa.text(
    ROWS_WITHIN.format(
        session_id=":session_id", after=":after", limit=":limit", max_bytes=":max_bytes"
    )
)


def session_record(row: sa.Row[Any]) -> SessionRecord:
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
    # A lone surrogate is text no backend can store: refused before a driver does.
    if match is None or flaw(match[2]) is not None:
        raise InvalidParameter(
            f"The cursor {cursor[:40]!r} is not one replaydeck gave out; pass the "
            "'next_cursor' of the previous page unchanged, or omit it to start over."
        )
    return int(match[1]), match[2]


class SqlStore:
    """The EventStore Protocol on SQLAlchemy Core; a backend subclass says how
    appends are serialized and what a commit tells other replicas."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # One session's appends take turns in this process, so stamps and
        # `on_stored` come in commit order (the database's lock would make them
        # wait anyway).
        self._session_locks = SessionLocks()
        # Appends that run on after their caller was cancelled; close() waits for them.
        self._appending: set[asyncio.Future[AppendResult]] = set()
        self._write_lock: asyncio.Lock | None = None

    def _reading(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return reading(self.engine)

    def _writing(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, lock=self._write_lock)

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, for ON CONFLICT DO NOTHING."""
        raise NotImplementedError

    async def _committing(self, connection: AsyncConnection, session_id: str, seq: int) -> None:
        """Runs inside a write transaction that changed `session_id` (seq -1: deleted);
        PostgreSQL tells other replicas from here, so only commits are heard."""

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
        return session_record(row)

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
        records = [session_record(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = records[-1]
            next_cursor = _encode_cursor(last.created_at_us, last.id)
        return SessionPage(records, next_cursor)

    async def count_types(self, session_ids: Sequence[str], types: Sequence[str]) -> dict[str, int]:
        if not session_ids or not types:
            return {}
        query = (
            sa.select(events.c.session_id, sa.func.count())
            .where(events.c.session_id.in_(list(session_ids)), events.c.type.in_(list(types)))
            .group_by(events.c.session_id)
        )
        async with self._reading() as connection:
            rows = (await connection.execute(query)).all()
        return {str(session_id): int(count) for session_id, count in rows}

    def _metadata_is(self, key: str, value: str) -> Any:
        """The condition "metadata[key] is value", as the backend's JSON can say it."""
        raise NotImplementedError

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
            await self._committing(connection, session_id, DELETED)

    async def append(
        self,
        session_id: str,
        events_in: Sequence[NewEvent],
        *,
        expected_seq: int | None = None,
        stamper: Stamper | None = None,
        on_stored: StoredHook | None = None,
    ) -> AppendResult:
        # A task of its own, shielded: a caller cancelled mid-flight (a client that
        # left) must not stop the commit halfway or skip the announcement after it.
        # "Commit, then announce" holds whatever happens to the caller, as with
        # SQLite's group committer, which belongs to no request either.
        task = asyncio.ensure_future(
            self._append_locked(session_id, events_in, expected_seq, now_us(), stamper, on_stored)
        )
        self._appending.add(task)
        task.add_done_callback(self._appending.discard)
        return await asyncio.shield(task)

    async def _append_locked(
        self,
        session_id: str,
        events_in: Sequence[NewEvent],
        expected_seq: int | None,
        received_us: int,
        stamper: Stamper | None,
        on_stored: StoredHook | None,
    ) -> AppendResult:
        async with self._session_locks.hold(session_id):
            result = await self._append_one(
                session_id, events_in, expected_seq, received_us, stamper
            )
            if on_stored is not None and result.appended:
                announce(on_stored, result)
        return result

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
            if draft is not None and draft.seq < session.last_seq:
                # Another replica appended since this one's stamper last saw the session;
                # the row lock keeps anyone from appending more until this commits.
                params = {"session_id": session_id, "after": draft.seq}
                draft.catch_up(stored_events(await connection.execute(_READ, params)))
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
                await self._committing(connection, session_id, after.last_seq)
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
                return session_record(row), created
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
            return stored_events(rows)

    async def read_rows(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[EventRow]:
        async with self._reading() as connection:
            # PostgreSQL's LIMIT NULL is "no limit".
            params = {"session_id": session_id, "after": after, "limit": limit}
            if max_bytes is None:
                return cast(Sequence[EventRow], (await connection.execute(_ROWS, params)).all())
            params["max_bytes"] = max_bytes
            rows = (await connection.execute(_ROWS_WITHIN, params)).all()
            return cast(Sequence[EventRow], rows)

    async def delete_idle(
        self,
        *,
        older_than: timedelta,
        dry_run: bool = False,
        now: int | None = None,
        batch_size: int = 200,
        on_deleted: Callable[[str], None] | None = None,
    ) -> GcReport:
        return await retention.delete_idle(
            self.engine,
            older_than=older_than,
            dry_run=dry_run,
            now=now,
            batch_size=batch_size,
            on_deleted=on_deleted,
        )

    async def ping(self) -> None:
        async with self._reading() as connection:
            await connection.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        if self._appending:
            await asyncio.wait(self._appending, timeout=30)
        await self.engine.dispose()
