"""The store contract on SQLite, bare (the `store` fixture of tests/conftest.py) and traced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from replaydeck.config import Settings
from replaydeck.store.backends import open_store
from replaydeck.store.engine import make_engine
from replaydeck.store.migrate import upgrade
from replaydeck.tracing.store import TracingStore
from tests.store.contract import BareStoreContract, TracedStoreContract, traced


class TestSqliteStore(BareStoreContract):
    pass


class TestTracedSqliteStore(TracedStoreContract):
    @pytest.fixture
    async def pair(
        self, tmp_path: Path
    ) -> AsyncIterator[tuple[TracingStore, InMemorySpanExporter]]:
        engine = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/traced.db"))
        await upgrade(engine)
        store, exporter = traced(open_store(engine))
        yield store, exporter
        await store.close()
