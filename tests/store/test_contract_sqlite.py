from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.config import Settings
from app.store.engine import make_engine
from app.store.migrate import upgrade
from app.store.sql import SqlEventStore
from tests.store.contract import StoreContract


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlEventStore]:
    engine = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/store.db"))
    await upgrade(engine)
    store = SqlEventStore(engine)
    yield store
    await store.close()


class TestSqliteStore(StoreContract):
    pass
