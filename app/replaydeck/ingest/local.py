"""The ingest pipeline without a server, for CLI commands (demo, import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from replaydeck.config import Settings
from replaydeck.ingest.service import Ingest
from replaydeck.live.hub import Hub
from replaydeck.store.backends import open_store
from replaydeck.store.engine import make_engine
from replaydeck.store.migrate import upgrade
from replaydeck.tracing.runtime import Tracing


@asynccontextmanager
async def local_ingest(settings: Settings) -> AsyncIterator[Ingest]:
    """Migrate, then ingest exactly as the server does: redacted, traced, stored.

    Sessions written here get their trace ids and span stamps like any other;
    spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT is set, and flushed on exit.
    """
    engine = make_engine(settings)
    try:
        await upgrade(engine)
        tracing = Tracing.create(open_store(engine), idle_timeout_s=settings.trace_idle_timeout)
        try:
            yield Ingest(store=tracing.store, hub=Hub(), settings=settings)
        finally:
            await tracing.shutdown()
    finally:
        await engine.dispose()
