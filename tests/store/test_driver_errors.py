"""A driver error is an outage (503) only when the database is unreachable.

A statement or value the database refuses is the request's fault or a bug:
never "the database is unavailable, retry", which a client would retry forever.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from replaydeck.config import Settings
from replaydeck.errors import InvalidParameter, StoreUnavailable
from replaydeck.store.engine import is_unavailable, make_engine
from replaydeck.store.migrate import upgrade
from replaydeck.store.tables import sessions
from replaydeck.store.transactions import reading, transaction
from tests.store.pg import pg_template, pg_url

__all__ = ["pg_template", "pg_url"]

pytestmark = pytest.mark.anyio

NUL_PATH = '$."k\x00"'  # what a NUL in a metadata filter's key once became


def test_sqlite_tells_a_bad_statement_from_a_locked_file(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with sqlite3.connect(path) as connection:
        with pytest.raises(sqlite3.OperationalError) as bad:
            connection.execute("SELECT json_extract('{}', ?)", (NUL_PATH,))
        assert not is_unavailable(bad.value)
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as locked:
            other.execute("BEGIN IMMEDIATE")
        assert is_unavailable(locked.value)
    finally:
        holder.close()
        other.close()


async def test_sqlite_answers_a_bad_statement_with_its_error_and_a_locked_file_with_503(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.db"
    engine = make_engine(
        Settings(database_url=f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_ms=50)
    )
    await upgrade(engine)
    try:
        with pytest.raises(DBAPIError) as bad:
            async with reading(engine) as connection:
                await connection.execute(sa.text("SELECT json_extract('{}', :p)"), {"p": NUL_PATH})
        assert not isinstance(bad.value, StoreUnavailable)
        holder = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreUnavailable):
                async with transaction(engine) as connection:
                    await connection.execute(sessions.delete())
        finally:
            holder.close()
    finally:
        await engine.dispose()


async def test_postgresql_refusing_a_nul_is_a_422_for_any_use_of_the_engine(pg_url: str) -> None:
    # The requests are checked first (tests/reliability/test_hostile_input.py); this
    # is what a value that slipped past would get, from the store, keys or shares alike.
    engine = make_engine(Settings(database_url=pg_url))
    try:
        with pytest.raises(InvalidParameter, match="NUL"):
            async with reading(engine) as connection:
                await connection.execute(sa.select(sessions).where(sessions.c.id == "a\x00"))
        with pytest.raises(InvalidParameter, match="NUL"):
            async with transaction(engine) as connection:
                await connection.execute(
                    sessions.insert().values(
                        id="m", created_at_us=0, metadata={"k": "\x00"}, status="open", last_seq=0
                    )
                )
        async with reading(engine) as connection:
            assert (
                await connection.execute(sa.select(sa.func.count()).select_from(sessions))
            ).scalar() == 0
    finally:
        await engine.dispose()
