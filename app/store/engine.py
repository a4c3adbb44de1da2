"""Engine construction: SQLite pragmas and transaction mode, PostgreSQL pool."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import Settings


def _json_serializer(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(settings: Settings) -> AsyncEngine:
    if settings.database_url.startswith("sqlite"):
        return _sqlite_engine(settings)
    return create_async_engine(
        settings.database_url,
        json_serializer=_json_serializer,
        json_deserializer=orjson.loads,
        # A restart of PostgreSQL kills every pooled connection; the ping finds
        # them on checkout, so requests after an outage succeed without one 500.
        pool_pre_ping=True,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
    )


def _sqlite_engine(settings: Settings) -> AsyncEngine:
    path = settings.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        settings.database_url,
        json_serializer=_json_serializer,
        json_deserializer=orjson.loads,
        connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
    )
    synchronous = settings.sqlite_synchronous
    busy_timeout = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and cannot say
        # IMMEDIATE; turn it off and emit BEGIN ourselves (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers (tails, replays) run while one writer appends.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front (IMMEDIATE), so two processes
        # appending to one file queue on busy_timeout instead of failing with
        # "database is locked" when a read transaction tries to upgrade.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
