"""What `replaydeck serve`, `db upgrade` and `demo` do before or without uvicorn."""

from __future__ import annotations

import gc

import click

from replaydeck.config import Settings
from replaydeck.demo import DEMO_SESSION_ID, record_demo
from replaydeck.errors import SessionExists, SessionNotFound
from replaydeck.ingest.local import local_ingest
from replaydeck.store.engine import make_engine
from replaydeck.store.migrate import upgrade


async def migrate(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def prepare(settings: Settings, *, demo: bool) -> str | None:
    """Migrate; with `demo`, record the demo into an empty database. Returns its id."""
    async with local_ingest(settings) as ingest:
        if not demo:
            return None
        page = await ingest.store.list_sessions(limit=1)
        if not page.sessions:
            await record_demo(ingest)
            return DEMO_SESSION_ID
        try:
            await ingest.store.get_session(DEMO_SESSION_ID)
        except SessionNotFound:
            return None
        return DEMO_SESSION_ID


async def record_demo_session(settings: Settings, session_id: str = DEMO_SESSION_ID) -> int:
    async with local_ingest(settings) as ingest:
        try:
            return await record_demo(ingest, session_id)
        except SessionExists:
            raise click.ClickException(
                f"A session {session_id!r} already exists; pass --session with another id."
            ) from None


def freeze_startup_heap() -> None:
    """Keep what start-up built out of the cyclic GC's full collections.

    A full collection walks every tracked object. After importing FastAPI,
    SQLAlchemy, pydantic and OpenTelemetry and building the app, that is hundreds
    of thousands of objects that live as long as the process, and under load
    full collections stalled the event loop for up to a quarter of a second
    (the ingest benchmark's p99). Frozen, they are skipped; objects made later
    are collected as before. Call it last before serving.
    """
    gc.collect()
    gc.freeze()
