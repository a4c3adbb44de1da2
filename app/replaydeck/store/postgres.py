"""The log on PostgreSQL: row locks order a session's appends across replicas, and
each commit tells the other replicas by NOTIFY from inside its own transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from replaydeck.store.notices import notify_statement
from replaydeck.store.sql import SqlStore
from replaydeck.store.tables import sessions


class PostgresEventStore(SqlStore):
    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table)

    def _metadata_is(self, key: str, value: str) -> Any:
        return sessions.c.metadata[key].as_string() == value

    async def _committing(self, connection: AsyncConnection, session_id: str, seq: int) -> None:
        # Delivered to other replicas only if this transaction commits.
        await connection.execute(notify_statement(session_id, seq))
