"""Connections and transactions for everything that uses the engine.

One place translates "the database is not there" into StoreUnavailable (503),
for the event store, API keys, shares and retention alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from replaydeck.errors import StoreUnavailable
from replaydeck.store.engine import is_unavailable


@contextlib.asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    try:
        async with engine.connect() as connection:
            yield connection
    except Exception as e:
        if is_unavailable(e):
            raise StoreUnavailable() from e
        raise


@contextlib.asynccontextmanager
async def transaction(
    engine: AsyncEngine, *, write: bool = True, lock: asyncio.Lock | None = None
) -> AsyncIterator[AsyncConnection]:
    """One transaction; writers on SQLite take the write lock up front (IMMEDIATE).

    A failed COMMIT lands here too: the client hears 503, never a 2xx, and a
    retry with the same event ids is safe either way.
    """
    try:
        async with lock or contextlib.nullcontext(), engine.connect() as connection:
            if write:
                connection = await connection.execution_options(sqlite_begin="IMMEDIATE")
            async with connection.begin():
                yield connection
    except Exception as e:
        if is_unavailable(e):
            raise StoreUnavailable() from e
        raise
