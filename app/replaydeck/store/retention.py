"""Retention, a store operation: delete sessions that have been idle longer than a cutoff.

A session is old when it was created before the cutoff and its latest event
(if any) is too. Deletion is safe beside live traffic: candidates are picked
by a read, then each batch is deleted in one write transaction that checks the
age again, so an append that lands in between makes its session young and
keeps it. Batches keep each write transaction short, so appends queue behind
gc for milliseconds, not for the whole sweep.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from replaydeck.store.base import EventStore, GcReport
from replaydeck.store.notices import DELETED, notify_statement
from replaydeck.store.tables import events, sessions, shares

log = logging.getLogger("replaydeck.retention")


def _is_old(cutoff_us: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        sessions.c.created_at_us < cutoff_us,
        sa.or_(sessions.c.last_ts_us.is_(None), sessions.c.last_ts_us < cutoff_us),
    )


async def _count_events(connection: AsyncConnection, ids: list[str]) -> int:
    count = await connection.scalar(
        sa.select(sa.func.count()).select_from(events).where(events.c.session_id.in_(ids))
    )
    return int(count or 0)


async def _delete_batch(
    engine: AsyncEngine, ids: list[str], cutoff_us: int
) -> tuple[list[str], int]:
    async with engine.connect() as connection:
        # IMMEDIATE takes SQLite's write lock first, so the age check and the
        # delete see the same state as every append. On PostgreSQL FOR UPDATE
        # does it: an append holding the row makes us wait, then re-check.
        connection = await connection.execution_options(sqlite_begin="IMMEDIATE")
        async with connection.begin():
            still_old = list(
                (
                    await connection.execute(
                        sa.select(sessions.c.id)
                        .where(sessions.c.id.in_(ids), _is_old(cutoff_us))
                        .with_for_update()
                    )
                ).scalars()
            )
            if not still_old:
                return [], 0
            count = await _count_events(connection, still_old)
            await connection.execute(events.delete().where(events.c.session_id.in_(still_old)))
            await connection.execute(shares.delete().where(shares.c.session_id.in_(still_old)))
            await connection.execute(
                sessions.delete().where(sessions.c.id.in_(still_old), _is_old(cutoff_us))
            )
            if connection.dialect.name == "postgresql":
                # As DELETE /v1/sessions/{id} does: every replica ends its streams
                # of these sessions when this commits, even when gc runs from cron.
                for session_id in still_old:
                    await connection.execute(notify_statement(session_id, DELETED))
    return still_old, count


async def delete_idle(
    engine: AsyncEngine,
    *,
    older_than: timedelta,
    dry_run: bool = False,
    now: int | None = None,
    batch_size: int = 200,
    on_deleted: Callable[[str], None] | None = None,
) -> GcReport:
    """Delete (or, dry, list) sessions idle for longer than `older_than`.

    `now` is epoch microseconds (injected by tests); `on_deleted` is called
    with each deleted id after its batch commits (the server ends its streams).
    """
    cutoff_us = (time.time_ns() // 1000 if now is None else now) - int(
        older_than.total_seconds() * 1e6
    )
    report = GcReport(cutoff_us=cutoff_us, dry_run=dry_run)
    after = ""
    while True:
        async with engine.connect() as connection:
            ids = list(
                (
                    await connection.execute(
                        sa.select(sessions.c.id)
                        .where(_is_old(cutoff_us), sessions.c.id > after)
                        .order_by(sessions.c.id)
                        .limit(batch_size)
                    )
                ).scalars()
            )
            if ids and dry_run:
                report.events += await _count_events(connection, ids)
        if not ids:
            return report
        after = ids[-1]
        if dry_run:
            report.session_ids.extend(ids)
            continue
        deleted, count = await _delete_batch(engine, ids, cutoff_us)
        report.session_ids.extend(deleted)
        report.events += count
        for session_id in deleted:
            if on_deleted is not None:
                on_deleted(session_id)


async def sweep_forever(
    store: EventStore,
    *,
    older_than: timedelta,
    interval: float,
    on_deleted: Callable[[str], None],
) -> None:
    """The server's retention loop (REPLAYDECK_RETENTION); runs for the app's lifetime."""
    while True:
        try:
            report = await store.delete_idle(older_than=older_than, on_deleted=on_deleted)
        except Exception:
            # A failed sweep (database briefly away) must not end the loop;
            # the next one retries.
            log.exception("retention sweep failed")
        else:
            if report.session_ids:
                log.info(
                    "retention deleted %d sessions (%d events) idle since before %s",
                    len(report.session_ids),
                    report.events,
                    report.cutoff_us,
                )
        await asyncio.sleep(interval)
