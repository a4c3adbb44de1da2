"""Start-up rules: an API without keys is open, which only a loopback bind may be."""

from __future__ import annotations

import contextlib
import logging

import sqlalchemy as sa

from replaydeck.auth.keys import KeyStore
from replaydeck.config import Settings
from replaydeck.store.engine import make_engine
from replaydeck.store.tables import api_keys

log = logging.getLogger("replaydeck")


class UnsafeBind(Exception):
    """A non-loopback bind with no API keys and no --insecure."""


def bind_problem(settings: Settings, *, has_keys: bool) -> str | None:
    """Why serving would be unsafe, as a sentence; None when it is fine."""
    if has_keys or settings.is_loopback or settings.insecure:
        return None
    return (
        f"Refusing to serve on {settings.host} without API keys: anyone who can reach it "
        "could read and write every session. Create a key with `replaydeck keys create "
        "--scope admin`, bind to 127.0.0.1, or pass --insecure if you mean it."
    )


async def database_requires_keys(settings: Settings) -> bool:
    """Whether the API will need keys (app/replaydeck/auth/keys.py `requires_keys`),
    found without creating the database or its tables."""
    path = settings.sqlite_path
    if path is not None and not path.exists():
        return False
    engine = make_engine(settings)
    try:
        async with engine.connect() as connection:
            migrated = await connection.run_sync(
                lambda sync: sa.inspect(sync).has_table(api_keys.name)
            )
        # A database never migrated has no keys; `serve` migrates it afterwards.
        if not migrated:
            return False
        with contextlib.closing(KeyStore(engine)) as keys:
            return await keys.requires_keys(reopen=settings.open_without_keys)
    finally:
        await engine.dispose()


async def check_bind(settings: Settings) -> None:
    """Raise UnsafeBind with the reason when `serve` must not start."""
    problem = bind_problem(settings, has_keys=await database_requires_keys(settings))
    if problem is not None:
        raise UnsafeBind(problem)


async def announce_access(keys: KeyStore, settings: Settings) -> None:
    """Say at start-up, in the log, whether the API is open (called from the lifespan)."""
    if await keys.has_active_keys():
        log.info("API keys are required on /v1 (Authorization: Bearer <key>).")
    elif await keys.requires_keys(reopen=settings.open_without_keys):
        log.warning(
            "Every API key has been revoked, so /v1 answers 401 to every request. Create "
            "a key with `replaydeck keys create --scope admin`, or set "
            "REPLAYDECK_OPEN_WITHOUT_KEYS=true (serve --open-without-keys) to serve it "
            "without keys again."
        )
    elif settings.is_loopback:
        log.warning(
            "No API keys exist, so the API is open to anything on this machine (bound to "
            "%s). Create one with `replaydeck keys create --scope admin` to require keys.",
            settings.host,
        )
    elif settings.insecure:
        log.warning(
            "No API keys exist and --insecure is set: the API on %s is open to anyone who "
            "can reach it.",
            settings.host,
        )
    else:
        log.warning(
            "No API keys exist and %s is not a loopback address, so /v1 answers 401 to "
            "every request. Create a key with `replaydeck keys create --scope admin`.",
            settings.host,
        )
