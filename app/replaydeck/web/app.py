"""create_app(settings): build the app; the lifespan opens and closes resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.cors import CORSMiddleware

from replaydeck.auth.keys import KeyStore
from replaydeck.auth.startup import announce_access
from replaydeck.config import Settings
from replaydeck.ingest.langsmith import Arrivals
from replaydeck.ingest.service import Ingest
from replaydeck.ingest.traces import TraceIngest
from replaydeck.live.hub import Hub
from replaydeck.live.pg_notify import PgNotifier, listen_dsn
from replaydeck.replay.clock import LoopClock
from replaydeck.share.masking import install_log_filter
from replaydeck.share.service import ShareService, signing_key
from replaydeck.sse import StreamCounter
from replaydeck.store.backends import open_store
from replaydeck.store.base import EventStore
from replaydeck.store.engine import make_engine
from replaydeck.store.migrate import upgrade
from replaydeck.store.retention import sweep_forever
from replaydeck.tracing.runtime import Tracing
from replaydeck.web import health, problems, viewer
from replaydeck.web.access import KeyCheck
from replaydeck.web.edge import CORS_HEADERS, EdgeGuard
from replaydeck.web.handoff import StreamHandoff
from replaydeck.web.head import HeadAsGet
from replaydeck.web.logs import RequestIdMiddleware
from replaydeck.web.metrics import Metrics
from replaydeck.web.metrics import router as metrics_router
from replaydeck.web.routes import ingest as ingest_routes
from replaydeck.web.routes import langsmith as langsmith_routes
from replaydeck.web.routes import live as live_routes
from replaydeck.web.routes import openai_agents as openai_agents_routes
from replaydeck.web.routes import replay as replay_routes
from replaydeck.web.routes import sessions as session_routes
from replaydeck.web.routes import share as share_routes
from replaydeck.web.routes import tracing as tracing_routes
from replaydeck.web.streams import OpenStreams, end_streams_of_revoked_keys, share_key
from replaydeck.web.traceparent import TraceparentMiddleware

log = logging.getLogger("replaydeck")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Resources close in the reverse order they open (AsyncExitStack).
        async with contextlib.AsyncExitStack() as stack:
            await _open(app, settings, stack)
            yield

    # FastAPI, with /docs and /redoc loading their scripts from the app itself
    # (fastapi-offline ships them), so the API docs work without internet access.
    app = FastAPIOffline(
        static_url="/docs/assets",
        title="replaydeck",
        version="0.1.0",
        summary="A flight recorder for streaming LLM apps.",
        lifespan=lifespan,
        # FastAPI's own request spans and metrics would follow a global OpenTelemetry
        # set-up into the traces, which are the sessions' here; and asking whether
        # one is configured was 5% of an append's time on the loop.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    # The metered clock records replay timers' lateness for /metrics.
    app.state.clock = app.state.metrics.metered_clock(LoopClock())
    app.state.streams = StreamCounter()
    # A client refused for too many streams is told to come back once a stalled
    # stream of its own would have been dropped.
    app.state.open_streams = OpenStreams(
        settings.max_streams_per_client, retry_after=math.ceil(settings.send_timeout)
    )
    problems.install(app)
    # The router tries routes in order: the hottest (the append, then the
    # streams) first, so they are found without trying the rest.
    for module in (ingest_routes, live_routes, replay_routes, session_routes, health):
        app.include_router(module.router)
    app.include_router(viewer.router)
    app.include_router(share_routes.router)
    app.include_router(share_routes.public)
    app.include_router(tracing_routes.router)
    app.include_router(openai_agents_routes.router)
    app.include_router(langsmith_routes.router)
    app.include_router(metrics_router)
    # Pure ASGI middleware, every route behind all of it, the streams included; a
    # middleware added later (app.add_middleware) wraps all of these. Added
    # inside-out: the last added is the outermost.
    app.add_middleware(StreamHandoff)
    # Every /v1 request checks its caller's API key scope (replaydeck.auth.access).
    app.add_middleware(KeyCheck)
    app.add_middleware(TraceparentMiddleware)
    app.add_middleware(HeadAsGet)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            # PATCH: the LangSmith SDK ends a run with PATCH /langsmith/runs/{id}.
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=CORS_HEADERS,
            expose_headers=["Location", "X-Request-ID"],
        )
    app.add_middleware(EdgeGuard, settings=settings)
    # Outermost of ours: every log line of a request has its id, refusals included.
    app.add_middleware(RequestIdMiddleware)
    return app


async def _open(app: FastAPI, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    """Open the engine, store, tracer, hub and background tasks onto `app.state`."""
    engine = make_engine(settings)
    if settings.migrate_on_start:
        await upgrade(engine)
    # Tracing wraps the store: envelopes get trace/span ids, stored events feed spans.
    tracing = Tracing.create(open_store(engine), idle_timeout_s=settings.trace_idle_timeout)
    store = tracing.store
    stack.push_async_callback(store.close)
    stack.push_async_callback(tracing.shutdown)
    _background(stack, tracing.run_sweeper())
    hub = Hub()
    metrics: Metrics = app.state.metrics
    app.state.tracing = tracing
    app.state.store = store
    app.state.hub = hub
    app.state.ingest = Ingest(store=store, hub=hub, settings=settings, metrics=metrics)
    app.state.trace_ingest = TraceIngest(app.state.ingest)
    app.state.langsmith_arrivals = Arrivals()
    open_streams: OpenStreams = app.state.open_streams
    app.state.notifier = await _listen(engine, settings, stack, hub, store, metrics, open_streams)
    notifier = app.state.notifier
    metrics.track_state(
        streams=app.state.streams,
        hub=hub,
        pool=engine.pool,
        listening=None if notifier is None else (lambda: notifier.listening),
        traced=lambda: tracing.tracer.tracking,
    )
    app.state.keys = keys = KeyStore(engine, cache_seconds=settings.key_cache_seconds)
    stack.callback(keys.close)
    # A revoked key's requests are refused within the key cache's time; its open
    # streams end within the same time (at least a second, not a busy loop).
    interval = max(settings.key_cache_seconds, 1.0)
    _background(stack, end_streams_of_revoked_keys(open_streams, keys, interval=interval))
    app.state.shares = ShareService(engine, signing_key(settings))
    # Share URLs are credentials: keep /r/<token> out of uvicorn's logs.
    install_log_filter()
    await announce_access(keys, settings)
    _background(stack, hub.run_heartbeats(settings.heartbeat_interval))
    if settings.retention is not None:
        _background(
            stack,
            sweep_forever(
                store,
                older_than=settings.retention,
                interval=settings.retention_interval,
                # Its open streams end (the tracing store forgets its spans).
                on_deleted=hub.remove,
            ),
        )


async def _listen(
    engine: AsyncEngine,
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    hub: Hub,
    store: EventStore,
    metrics: Metrics,
    open_streams: OpenStreams,
) -> PgNotifier | None:
    """With PostgreSQL, other replicas' appends reach this hub by LISTEN/NOTIFY."""
    if engine.dialect.name != "postgresql":
        return None
    notifier = PgNotifier(
        listen_dsn(settings.database_url),
        hub,
        store=store,
        page_size=settings.read_page_size,
        on_lag=metrics.notify_lag.observe,
        on_reconnect=metrics.notify_reconnects.inc,
        # A share link revoked through another replica ends its streams here too.
        on_revoked=lambda share_id: open_streams.stop(share_key(share_id)),
    )
    _background(stack, notifier.run())
    try:
        async with asyncio.timeout(notifier.connect_timeout):
            await notifier.connected.wait()
    except TimeoutError:
        log.warning("not yet listening for other replicas' appends; still trying")
    return notifier


def _background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` for the app's lifetime; cancel it (and wait) at shutdown."""
    task = asyncio.create_task(work)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
