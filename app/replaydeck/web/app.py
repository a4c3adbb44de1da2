"""create_app(settings): build the app; the lifespan opens and closes resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from replaydeck.auth.deps import authorize
from replaydeck.auth.keys import KeyStore
from replaydeck.auth.startup import announce_access
from replaydeck.config import Settings
from replaydeck.ingest.service import Ingest
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
from replaydeck.tracing.context import TraceparentMiddleware
from replaydeck.tracing.runtime import Tracing
from replaydeck.web import health, problems, viewer
from replaydeck.web.direct_routes import DirectRoutes
from replaydeck.web.edge import guard
from replaydeck.web.logs import RequestIdMiddleware
from replaydeck.web.metrics import Metrics
from replaydeck.web.metrics import router as metrics_router
from replaydeck.web.routes import ingest as ingest_routes
from replaydeck.web.routes import live as live_routes
from replaydeck.web.routes import replay as replay_routes
from replaydeck.web.routes import sessions as session_routes
from replaydeck.web.routes import share as share_routes
from replaydeck.web.routes import tracing as tracing_routes
from replaydeck.web.streams import OpenStreams, end_streams_of_revoked_keys, share_key

log = logging.getLogger("replaydeck")


class Replaydeck(FastAPI):
    """FastAPI, with the stream and append routes served in front of its middleware stack.

    Open streams would otherwise each keep the whole per-request stack alive
    for as long as they last, and appends pay for it on every event;
    app/replaydeck/web/direct_routes.py says what they get instead.
    """

    direct_routes: Sequence[APIRoute] = ()

    def build_middleware_stack(self) -> ASGIApp:
        routes = DirectRoutes(
            self.direct_routes,
            super().build_middleware_stack(),
            app_dependencies=self.router.dependencies,
            handlers=self.exception_handlers,
        )
        # Outermost: the Host and cross-origin checks cover every route, the
        # direct ones included (app/replaydeck/web/edge.py).
        return guard(routes, self.state.settings)


def direct_routes() -> list[APIRoute]:
    """The routes a client holds open for minutes or hours (live tails and replays),
    and the one it calls for every event (append)."""
    endpoints = {
        live_routes.stream,
        replay_routes.replay,
        share_routes.share_stream,
        share_routes.share_replay,
        ingest_routes.append_events,
    }
    routers = (live_routes.router, replay_routes.router, share_routes.public, ingest_routes.router)
    found = [
        route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint in endpoints
    ]
    assert len(found) == len(endpoints), "a direct route moved to another router"
    return found


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Resources close in the reverse order they open (AsyncExitStack).
        async with contextlib.AsyncExitStack() as stack:
            await _open(app, settings, stack)
            yield

    app = Replaydeck(
        title="replaydeck",
        version="0.1.0",
        summary="A flight recorder for streaming LLM apps.",
        lifespan=lifespan,
        # Every /v1 route checks its caller's API key scope (app/replaydeck/auth/deps.py).
        dependencies=[Depends(authorize)],
        # FastAPI's own request spans and metrics would follow a global OpenTelemetry
        # set-up into the traces, which are the sessions' here; and asking whether
        # one is configured was 5% of an append's time on the loop.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.direct_routes = direct_routes()
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
    for module in (health, session_routes, ingest_routes, live_routes, replay_routes):
        app.include_router(module.router)
    app.include_router(viewer.router)
    app.include_router(share_routes.router)
    app.include_router(share_routes.public)
    app.include_router(tracing_routes.router)
    app.add_middleware(TraceparentMiddleware)
    app.include_router(metrics_router)
    # Added last, so it is outermost: every log line of a request has its id.
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
