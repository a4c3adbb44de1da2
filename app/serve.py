"""What `replaydeck serve` does before uvicorn starts."""

from __future__ import annotations

import click

from app.config import Settings
from app.demo import DEMO_SESSION_ID, record_demo
from app.errors import SessionExists, SessionNotFound
from app.ingest.service import Ingest
from app.live.hub import Hub
from app.store.engine import make_engine
from app.store.migrate import upgrade
from app.store.sql import SqlEventStore


def check_bind(settings: Settings) -> None:
    if not settings.is_loopback and not settings.insecure:
        raise click.ClickException(
            f"Refusing to serve on {settings.host} without API keys: anyone who can reach "
            "it could read and write every session. Create a key with `replaydeck keys "
            "create --scope admin`, bind to 127.0.0.1, or pass --insecure if you mean it."
        )


async def migrate(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def prepare(settings: Settings, *, demo: bool) -> str | None:
    """Migrate; with `demo`, record the demo into an empty database. Returns its id."""
    engine = make_engine(settings)
    try:
        await upgrade(engine)
        store = SqlEventStore(engine)
        if not demo:
            return None
        page = await store.list_sessions(limit=1)
        if not page.sessions:
            await record_demo(Ingest(store=store, hub=Hub(), settings=settings))
            return DEMO_SESSION_ID
        try:
            await store.get_session(DEMO_SESSION_ID)
        except SessionNotFound:
            return None
        return DEMO_SESSION_ID
    finally:
        await engine.dispose()


async def record_demo_session(settings: Settings, session_id: str = DEMO_SESSION_ID) -> int:
    engine = make_engine(settings)
    try:
        await upgrade(engine)
        store = SqlEventStore(engine)
        ingest = Ingest(store=store, hub=Hub(), settings=settings)
        try:
            return await record_demo(ingest, session_id)
        except SessionExists:
            raise click.ClickException(
                f"A session {session_id!r} already exists; pass --session with another id."
            ) from None
    finally:
        await engine.dispose()
