"""API keys: generation, hashing, scopes, and the api_keys table."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from replaydeck.auth.probe import SqliteKeyProbe
from replaydeck.clock import now_us
from replaydeck.errors import ReplaydeckError
from replaydeck.store.tables import api_keys
from replaydeck.store.transactions import reading, transaction

KEY_PREFIX = "rdk_"


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


def allows(held: Scope, needed: Scope) -> bool:
    # Scopes are not a ladder: an ingest key cannot read and a read key cannot
    # append. Only admin holds everything.
    return held is Scope.ADMIN or held is needed


def generate_key() -> str:
    # 32 random bytes (256 bits); the prefix lets secret scanners and the
    # redactor recognise a leaked key.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # A plain SHA-256 is the right tool here, not bcrypt/argon2: slow hashes
    # protect low-entropy passwords from guessing, but a 256-bit random key
    # cannot be guessed at any speed, and a deterministic hash lets a request
    # find its key by an indexed equality lookup instead of trying every row.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyNotFound(ReplaydeckError):
    status = 404
    slug = "key-not-found"
    title = "No such API key"

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"There is no API key with id {key_id!r}. List the keys with `replaydeck keys list`.",
            key_id=key_id,
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    label: str
    scope: Scope
    created_at_us: int
    revoked_at_us: int | None = None
    last_used_at_us: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at_us is None


@dataclass(frozen=True, slots=True)
class NewKey:
    record: ApiKey
    # The only time the key itself exists outside its owner's hands.
    secret: str


def _record(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        label=row.label,
        scope=Scope(row.scope),
        created_at_us=row.created_at_us,
        revoked_at_us=row.revoked_at_us,
        last_used_at_us=row.last_used_at_us,
    )


class KeyStore:
    """The api_keys table. `clock` returns epoch microseconds."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], int] = now_us,
        touch_interval_us: int = 60_000_000,
        cache_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.clock = clock
        # last_used_at is informational; writing it on every request would make
        # each read a write, so it is refreshed at most once per interval.
        self.touch_interval_us = touch_interval_us
        # Every request asks "are there keys?" and "whose key is this?"; one
        # database read each made auth the biggest cost of a small append. The
        # answers are kept briefly: a key created or revoked through this
        # process counts at once (the caches are cleared), a key created by the
        # CLI in another process at once too (a "no keys" answer is never kept),
        # one revoked by the CLI within `cache_seconds`.
        self._has_keys_cache: TTLCache[str, bool] = TTLCache(2, cache_seconds, timer=monotonic)
        self._by_hash: TTLCache[str, ApiKey | None] = TTLCache(4096, cache_seconds, timer=monotonic)
        self._probe = SqliteKeyProbe.for_url(engine.url)

    def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return reading(self.engine)

    def _writing(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine)

    async def create(self, scope: Scope, label: str = "") -> NewKey:
        secret = generate_key()
        record = ApiKey(
            id="key_" + secrets.token_hex(6),
            label=label,
            scope=scope,
            created_at_us=self.clock(),
        )
        self._forget()
        async with self._writing() as connection:
            await connection.execute(
                api_keys.insert().values(
                    id=record.id,
                    label=record.label,
                    scope=record.scope.value,
                    key_hash=hash_key(secret),
                    created_at_us=record.created_at_us,
                )
            )
        return NewKey(record=record, secret=secret)

    async def list(self) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at_us, api_keys.c.id)
        async with self._reading() as connection:
            rows = (await connection.execute(query)).all()
        return [_record(row) for row in rows]

    def _forget(self) -> None:
        self._has_keys_cache.clear()
        self._by_hash.clear()

    async def revoke(self, key_id: str) -> ApiKey:
        self._forget()
        async with self._writing() as connection:
            row = (
                await connection.execute(sa.select(api_keys).where(api_keys.c.id == key_id))
            ).one_or_none()
            if row is None:
                raise KeyNotFound(key_id)
            if row.revoked_at_us is not None:
                return _record(row)
            revoked_at = self.clock()
            await connection.execute(
                api_keys.update().where(api_keys.c.id == key_id).values(revoked_at_us=revoked_at)
            )
        return replace(_record(row), revoked_at_us=revoked_at)

    async def has_active_keys(self) -> bool:
        return await self._has_keys(active_only=True)

    async def requires_keys(self, *, reopen: bool = False) -> bool:
        """Whether /v1 needs a key: an active key exists, or any key ever did.

        Revoked keys stay in the table, so revoking every key leaves the API closed
        rather than open (a revoked key must never work again, not even as "no
        key"). With `reopen` (REPLAYDECK_OPEN_WITHOUT_KEYS) only active keys count.
        """
        return await self._has_keys(active_only=reopen)

    async def _has_keys(self, *, active_only: bool) -> bool:
        cache_key = "active" if active_only else "any"
        cached = self._has_keys_cache.get(cache_key)
        if cached is not None:
            return cached
        found = None if self._probe is None else self._probe.has_keys(active_only=active_only)
        if found is None:
            query = sa.select(api_keys.c.id).limit(1)
            if active_only:
                query = query.where(api_keys.c.revoked_at_us.is_(None))
            async with self._reading() as connection:
                found = (await connection.execute(query)).first() is not None
        if found:
            # Only "yes" is kept: the first key made by the CLI must close an
            # open API at once, not a moment later.
            self._has_keys_cache[cache_key] = found
        return found

    async def active(self, key_ids: Collection[str]) -> set[str]:
        """Which of these keys are still active (not revoked), read now, not cached."""
        query = sa.select(api_keys.c.id).where(
            api_keys.c.id.in_(list(key_ids)), api_keys.c.revoked_at_us.is_(None)
        )
        async with self._reading() as connection:
            return set((await connection.execute(query)).scalars())

    async def authenticate(self, secret: str) -> ApiKey | None:
        """The active key whose hash matches, or None."""
        key_hash = hash_key(secret)
        if key_hash in self._by_hash:
            record = self._by_hash[key_hash]
        else:
            query = sa.select(api_keys).where(
                api_keys.c.key_hash == key_hash, api_keys.c.revoked_at_us.is_(None)
            )
            async with self._reading() as connection:
                row = (await connection.execute(query)).one_or_none()
            record = None if row is None else _record(row)
            self._by_hash[key_hash] = record
        if record is None:
            return None
        now = self.clock()
        if record.last_used_at_us is None or now - record.last_used_at_us >= self.touch_interval_us:
            await self._touch(record.id, now)
            record = replace(record, last_used_at_us=now)
            self._by_hash[key_hash] = record
        return record

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()

    async def _touch(self, key_id: str, now: int) -> None:
        async with self._writing() as connection:
            await connection.execute(
                api_keys.update().where(api_keys.c.id == key_id).values(last_used_at_us=now)
            )
