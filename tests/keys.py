"""API keys made the way `replaydeck keys create` makes them: through the database,
beside a running server (another process, as far as the server knows)."""

from __future__ import annotations

from replaydeck.auth.keys import KeyStore, NewKey, Scope
from replaydeck.config import Settings
from replaydeck.store.engine import make_engine


async def create_keys(settings: Settings, *scopes: Scope) -> list[NewKey]:
    keys = KeyStore(make_engine(settings))
    try:
        return [await keys.create(scope) for scope in scopes]
    finally:
        keys.close()
        await keys.engine.dispose()
