from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from replaydeck.auth.keys import (
    KEY_PREFIX,
    KeyNotFound,
    KeyStore,
    Scope,
    allows,
    generate_key,
    hash_key,
)
from replaydeck.auth.probe import SqliteKeyProbe
from replaydeck.config import Settings
from replaydeck.store.engine import make_engine
from replaydeck.store.tables import api_keys, metadata
from tests.store.pg import pg_template, pg_url

pytestmark = pytest.mark.anyio


__all__ = ["pg_template", "pg_url"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The api_keys table on a fresh SQLite file, and on a fresh PostgreSQL database."""
    if request.param == "postgres":
        engine = make_engine(Settings(database_url=request.getfixturevalue("pg_url")))
    else:
        engine = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/keys.db"))
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


class FakeClock:
    def __init__(self, start: int = 1_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def test_generated_keys_are_prefixed_unique_and_long() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) >= len(KEY_PREFIX) + 43  # 32 bytes of base64url


def test_hash_is_sha256_hex_of_the_key() -> None:
    assert hash_key("rdk_abc") == hashlib.sha256(b"rdk_abc").hexdigest()


@pytest.mark.parametrize(("held", "needed"), list(itertools.product(Scope, Scope)))
def test_only_admin_holds_other_scopes(held: Scope, needed: Scope) -> None:
    assert allows(held, needed) == (held is Scope.ADMIN or held is needed)


async def test_create_stores_only_the_hash(engine: AsyncEngine) -> None:
    store = KeyStore(engine)
    new = await store.create(Scope.READ, "ci reader")
    async with engine.connect() as connection:
        row = (await connection.execute(sa.select(api_keys))).one()
    assert row.key_hash == hash_key(new.secret)
    assert new.secret not in tuple(str(v) for v in row)
    assert (row.id, row.label, row.scope) == (new.record.id, "ci reader", "read")


async def test_authenticate_finds_the_key_and_refuses_others(engine: AsyncEngine) -> None:
    store = KeyStore(engine)
    new = await store.create(Scope.INGEST)
    found = await store.authenticate(new.secret)
    assert found is not None
    assert (found.id, found.scope) == (new.record.id, Scope.INGEST)
    assert await store.authenticate(new.secret + "x") is None
    assert await store.authenticate(generate_key()) is None


async def test_revoked_keys_stop_working_and_revoke_is_idempotent(engine: AsyncEngine) -> None:
    clock = FakeClock()
    store = KeyStore(engine, clock=clock)
    new = await store.create(Scope.ADMIN)
    assert await store.has_active_keys()
    clock.now += 5
    revoked = await store.revoke(new.record.id)
    assert revoked.revoked_at_us == clock.now
    assert await store.authenticate(new.secret) is None
    assert not await store.has_active_keys()
    clock.now += 5
    again = await store.revoke(new.record.id)
    assert again.revoked_at_us == revoked.revoked_at_us


async def test_once_a_key_existed_keys_stay_required_unless_reopened(
    engine: AsyncEngine,
) -> None:
    store = KeyStore(engine)
    assert not await store.requires_keys()
    new = await store.create(Scope.ADMIN)
    assert await store.requires_keys()
    assert await store.requires_keys(reopen=True)
    await store.revoke(new.record.id)
    assert await store.requires_keys()
    assert not await store.requires_keys(reopen=True)


async def test_revoking_an_unknown_key_names_it(engine: AsyncEngine) -> None:
    with pytest.raises(KeyNotFound, match="key_nope"):
        await KeyStore(engine).revoke("key_nope")


async def test_list_shows_keys_in_creation_order(engine: AsyncEngine) -> None:
    clock = FakeClock()
    store = KeyStore(engine, clock=clock)
    first = await store.create(Scope.READ, "a")
    clock.now += 1
    second = await store.create(Scope.INGEST, "b")
    await store.revoke(first.record.id)
    listed = await store.list()
    assert [k.id for k in listed] == [first.record.id, second.record.id]
    assert [k.active for k in listed] == [False, True]


async def test_last_used_is_refreshed_at_most_once_per_interval(engine: AsyncEngine) -> None:
    clock = FakeClock()
    store = KeyStore(engine, clock=clock, touch_interval_us=100)
    new = await store.create(Scope.READ)

    async def last_used() -> int | None:
        listed = await store.list()
        return listed[0].last_used_at_us

    assert await last_used() is None
    await store.authenticate(new.secret)
    assert await last_used() == clock.now
    first_use = clock.now
    clock.now += 99
    await store.authenticate(new.secret)
    assert await last_used() == first_use
    clock.now += 1
    await store.authenticate(new.secret)
    assert await last_used() == clock.now


async def test_answers_are_cached_briefly_and_own_changes_count_at_once(
    engine: AsyncEngine,
) -> None:
    now = [100.0]
    server = KeyStore(engine, cache_seconds=1.0, monotonic=lambda: now[0])
    cli = KeyStore(engine)  # another process, as `replaydeck keys` is
    assert not await server.has_active_keys()
    first = await cli.create(Scope.READ)  # "no keys" was not kept: counts at once
    assert await server.has_active_keys()
    await server.revoke(first.record.id)  # through this process: counts at once
    assert not await server.has_active_keys()
    new = await server.create(Scope.READ)
    assert await server.has_active_keys()
    assert await server.authenticate(new.secret) is not None
    await cli.revoke(new.record.id)
    # The server trusts what it read for up to cache_seconds, then reads again.
    assert await server.authenticate(new.secret) is not None
    now[0] += 1.01
    assert await server.authenticate(new.secret) is None
    assert not await server.has_active_keys()


async def test_the_sqlite_probe_reads_the_file_and_never_creates_one(tmp_path: Path) -> None:
    missing = SqliteKeyProbe(tmp_path / "missing.db")
    assert missing.has_keys(active_only=True) is None  # "don't know": the engine is asked
    assert not (tmp_path / "missing.db").exists()
    engine = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/keys.db"))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    probe = SqliteKeyProbe.for_url(engine.url)
    assert probe is not None
    assert probe.has_keys(active_only=True) is False
    assert probe.has_keys(active_only=False) is False
    created = await KeyStore(engine).create(Scope.INGEST)
    assert probe.has_keys(active_only=True) is True
    await KeyStore(engine).revoke(created.record.id)
    assert probe.has_keys(active_only=True) is False
    assert probe.has_keys(active_only=False) is True  # revoked rows are kept
    probe.close()
    await engine.dispose()
    memory = make_engine(Settings(database_url="sqlite+aiosqlite://"))
    assert SqliteKeyProbe.for_url(memory.url) is None
    await memory.dispose()
