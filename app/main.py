"""create_app(settings): build the app; the lifespan opens and closes resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from app import health, problems
from app.auth.deps import authorize
from app.auth.keys import KeyStore
from app.auth.startup import announce_access
from app.config import Settings
from app.ingest import routes as ingest_routes
from app.ingest.service import Ingest
from app.live import routes as live_routes
from app.live.hub import Hub
from app.replay import routes as replay_routes
from app.replay.clock import LoopClock
from app.sessions import routes as session_routes
from app.share import routes as share_routes
from app.share import viewer
from app.share.masking import install_log_filter
from app.share.service import ShareService, signing_key
from app.sse import StreamCounter
from app.store.engine import make_engine
from app.store.migrate import upgrade
from app.store.sql import SqlEventStore
from app.tracing import routes as tracing_routes
from app.tracing.context import TraceparentMiddleware
from app.tracing.runtime import Tracing

log = logging.getLogger("replaydeck")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        if settings.migrate_on_start:
            await upgrade(engine)
        # Tracing wraps the store: envelopes get trace/span ids, stored events feed spans.
        tracing = Tracing.create(SqlEventStore(engine), idle_timeout_s=settings.trace_idle_timeout)
        store = tracing.store
        app.state.tracing = tracing
        sweeper = asyncio.create_task(tracing.run_sweeper())
        hub = Hub()
        app.state.store = store
        app.state.hub = hub
        app.state.ingest = Ingest(store=store, hub=hub, settings=settings)
        app.state.keys = KeyStore(engine)
        app.state.shares = ShareService(engine, signing_key(settings))
        # Share URLs are credentials: keep /r/<token> out of uvicorn's logs.
        install_log_filter()
        await announce_access(engine, settings)
        heartbeats = asyncio.create_task(hub.run_heartbeats(settings.heartbeat_interval))
        try:
            yield
        finally:
            heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeats
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await tracing.shutdown()
            await store.close()

    app = FastAPI(
        title="replaydeck",
        version="0.1.0",
        summary="A flight recorder for streaming LLM apps.",
        lifespan=lifespan,
        # Every /v1 route checks its caller's API key scope (app/auth/deps.py).
        dependencies=[Depends(authorize)],
    )
    app.state.settings = settings
    app.state.clock = LoopClock()
    app.state.streams = StreamCounter()
    problems.install(app)
    for module in (health, session_routes, ingest_routes, live_routes, replay_routes):
        app.include_router(module.router)
    app.include_router(viewer.router)
    app.include_router(share_routes.router)
    app.include_router(share_routes.public)
    app.include_router(tracing_routes.router)
    app.add_middleware(TraceparentMiddleware)
    return app
