"""Engine construction: SQLite pragmas and transaction mode, PostgreSQL pool."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from replaydeck.config import Settings
from replaydeck.errors import InvalidParameter, StoreUnavailable

# SQLSTATEs that mean "the server is not there right now", not "the statement
# is wrong": connection exceptions (class 08), a shutdown or restart in progress
# (57P01-57P03) and too many connections (53300). They become 503s.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# SQLite's result codes of the same kind: locked past the busy timeout, out of
# memory, I/O, a full or read-only disk, a file gone or damaged. SQLITE_ERROR
# (a malformed JSON path from a filter, for one) is a wrong statement or value:
# a 4xx or a bug, never an outage.
_SQLITE_OUTAGES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)
# PostgreSQL refusing a text value (a NUL, or bytes not valid in the encoding).
# Requests are checked for these first (app/replaydeck/storable.py); this only
# keeps a value that slipped past from reading as a bug or an outage.
_UNSTORABLE_TEXT_SQLSTATES = ("22021", "22P05")


def _sqlite_outage(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # raised by the sqlite3 module itself, not by SQLite
        return isinstance(error, sqlite3.OperationalError)
    # Extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT …) keep the primary in the low byte.
    return code & 0xFF in _SQLITE_OUTAGES


def _sqlstate(error: DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", None) or "")


def is_unavailable(error: BaseException) -> bool:
    """Whether a driver error means the database is unreachable (retry later)."""
    # sqlite3's own errors come from reads that use the driver directly
    # (SqlStore.read_rows); SQLAlchemy wraps the others, keeping the original.
    if isinstance(error, sqlite3.Error):
        return _sqlite_outage(error)
    if isinstance(error, DBAPIError) and isinstance(error.orig, sqlite3.Error):
        return _sqlite_outage(error.orig)
    # asyncpg raises plain OSError (connection refused or reset) while connecting,
    # which SQLAlchemy does not wrap; PoolTimeout is a pool with no free connection.
    if isinstance(error, OSError | PoolTimeout | OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or _sqlstate(error).startswith(_UNAVAILABLE_SQLSTATES)
    return False


def _json_serializer(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(settings: Settings) -> AsyncEngine:
    if settings.database_url.startswith("sqlite"):
        return _sqlite_engine(settings)
    engine = create_async_engine(
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
    _translate_outages(engine)
    return engine


def _translate_outages(engine: AsyncEngine) -> None:
    """Make every use of the engine raise StoreUnavailable (503) while PostgreSQL is down.

    The event store translates at its transaction boundary, but API keys,
    shares and tracing use the engine too; translating here, once, means none
    of them can turn a restart or failover into a 500.
    """

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # asyncpg's refusals while connecting are OSErrors, which SQLAlchemy
        # passes through unwrapped (so handle_error below never sees them).
        try:
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        except OSError as e:
            raise StoreUnavailable() from e

    @event.listens_for(engine.sync_engine, "handle_error")
    def _handle_error(context: ExceptionContext) -> None:
        # A failed pre-ping is the pool finding a stale connection: it
        # reconnects by itself, so that failure is not an outage.
        if context.is_pre_ping:
            return
        error = context.sqlalchemy_exception
        if error is not None and is_unavailable(error):
            raise StoreUnavailable()
        if isinstance(error, DBAPIError) and _sqlstate(error) in _UNSTORABLE_TEXT_SQLSTATES:
            raise InvalidParameter(
                "The request holds text the database cannot store (a NUL character, "
                "\\u0000, or bytes that are not UTF-8); nothing was stored. Remove it and retry."
            ) from error


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
