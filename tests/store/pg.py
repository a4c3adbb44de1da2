"""PostgreSQL for tests: reachability, and a fresh migrated database per test.

The server is 127.0.0.1:5432 with trust auth (override the admin DSN with
REPLAYDECK_TEST_POSTGRES). When it cannot be reached, tests that need it skip
and say why; with CI=true they fail instead, because CI is where they must run
(.ci/run starts PostgreSQL first).

Migrations run once per test run into a template database; each test gets
`CREATE DATABASE … TEMPLATE` of it (a file copy, much faster than migrating
again) and the database is dropped when the test ends.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from replaydeck.config import Settings
from replaydeck.store.engine import make_engine
from replaydeck.store.migrate import upgrade
from tests.needs import missing

ADMIN_DSN = os.environ.get("REPLAYDECK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = "rd_test_"
T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def _admin(*statements: str) -> list[Any]:
    connection = await asyncpg.connect(ADMIN_DSN, timeout=3)
    try:
        return [await connection.fetch(statement) for statement in statements]
    finally:
        await connection.close()


_reason: list[str | None] = []


def unreachable_reason() -> str | None:
    """None when PostgreSQL answers; else why not (checked once per process)."""
    if not _reason:
        try:
            run_sync(_admin("SELECT 1"))
            _reason.append(None)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            _reason.append(f"{type(e).__name__}: {e}")
    return _reason[0]


def require_postgres() -> None:
    reason = unreachable_reason()
    if reason is None:
        return
    where = make_url(ADMIN_DSN).render_as_string(hide_password=True)
    missing(
        f"PostgreSQL at {where} is not reachable ({reason}); start it to run these "
        "tests (.ci/run starts it)."
    )


def url_for(database: str) -> str:
    url = make_url(ADMIN_DSN).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


def _drop_orphans() -> None:
    # Databases of test runs that died before their clean-up: the pid in the
    # name is no longer running.
    (rows,) = run_sync(_admin(f"SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"))
    for row in rows:
        pid = row["datname"].removeprefix(PREFIX).split("_", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            run_sync(_admin(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)'))


def _new_name() -> str:
    return f"{PREFIX}{os.getpid()}_{secrets.token_hex(4)}"


async def _migrate(url: str) -> None:
    engine = make_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated, empty database to copy; made once per test run."""
    require_postgres()
    _drop_orphans()
    name = _new_name()
    run_sync(_admin(f'CREATE DATABASE "{name}"'))
    try:
        run_sync(_migrate(url_for(name)))
        yield name
    finally:
        run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A `postgresql+asyncpg://` URL of a fresh migrated database for this test."""
    name = _new_name()
    run_sync(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    try:
        yield url_for(name)
    finally:
        run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    """A URL of a fresh database with no tables at all (for migration tests)."""
    require_postgres()
    name = _new_name()
    run_sync(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url_for(name)
    finally:
        run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_url(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> str:
    """A fresh database of `backend` ("sqlite" or "postgres") for one test: a file in
    `tmp_path`, or a migrated PostgreSQL database (the pg_url fixture)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'replaydeck.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
