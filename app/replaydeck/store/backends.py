"""Which backend serves an engine's database."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from replaydeck.store.postgres import PostgresEventStore
from replaydeck.store.sql import SqlStore
from replaydeck.store.sqlite import SqliteEventStore


def open_store(engine: AsyncEngine, **options: Any) -> SqlStore:
    """The backend for the engine's database (options go to its constructor)."""
    if engine.dialect.name == "sqlite":
        return SqliteEventStore(engine, **options)
    return PostgresEventStore(engine, **options)
