"""Shared fixtures: every test gets its own temporary SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from replaydeck.config import Settings
from replaydeck.store.backends import open_store
from replaydeck.store.engine import make_engine
from replaydeck.store.migrate import upgrade
from replaydeck.store.sql import SqlStore
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/replaydeck.db",
        heartbeat_interval=15.0,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A migrated, empty SQLite store of its own (backends' modules override it)."""
    engine = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/store.db"))
    await upgrade(engine)
    store = open_store(engine)
    yield store
    await store.close()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """In-process client with the app's lifespan running (not for streaming tests)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
def server(app: FastAPI) -> Iterator[RunningServer]:
    """The app on a real uvicorn, bound to a free port on 127.0.0.1."""
    with serve(app) as running:
        yield running
