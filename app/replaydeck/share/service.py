"""Share links: create, revoke, and open a token against the shares table."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from replaydeck.clock import now_us
from replaydeck.config import Settings
from replaydeck.errors import InvalidParameter, ReplaydeckError, SessionNotFound
from replaydeck.share.tokens import ShareClaims, TokenInvalid, sign, verify
from replaydeck.storable import flaw
from replaydeck.store.notices import revoked_statement
from replaydeck.store.tables import sessions, shares
from replaydeck.store.transactions import transaction

SECRET_FILE = "share-secret"
MIN_SECRET_LENGTH = 32
DEFAULT_EXPIRES_IN = 7 * 24 * 3600
MAX_EXPIRES_IN = 365 * 24 * 3600


class ShareNotFound(ReplaydeckError):
    """Every unusable token: bad, tampered, expired, revoked, or its session gone.

    One class and one sentence, so a caller cannot tell the cases apart.
    """

    status = 404
    slug = "share-not-found"
    title = "This replay link does not work"
    DETAIL = (
        "This replay link is not valid: it may have expired or been revoked. "
        "Ask whoever sent it for a new link."
    )

    def __init__(self) -> None:
        super().__init__(self.DETAIL)


class UnknownShare(ReplaydeckError):
    status = 404
    slug = "share-unknown"
    title = "No such share"

    def __init__(self, share_id: str) -> None:
        super().__init__(
            f"There is no share {share_id!r}. The id is the 'id' field that "
            "POST /v1/sessions/{id}/shares returned.",
            share_id=share_id,
        )


@dataclass(frozen=True, slots=True)
class Share:
    id: str
    session_id: str
    created_at_us: int
    expires_at_us: int
    revoked_at_us: int | None = None

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at_us / 1_000_000, tz=UTC)


@dataclass(frozen=True, slots=True)
class CreatedShare:
    share: Share
    token: str


def _share(row: sa.Row[Any]) -> Share:
    return Share(
        id=row.id,
        session_id=row.session_id,
        created_at_us=row.created_at_us,
        expires_at_us=row.expires_at_us,
        revoked_at_us=row.revoked_at_us,
    )


def secret_from_file(path: Path) -> bytes:
    """Read the signing secret, creating it (mode 0600) the first time.

    O_EXCL makes creation atomic: two processes starting together end up with
    one secret, and the loser reads the winner's file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="ascii").strip()
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"The share secret file {str(path)!r} is empty or too short; delete it to "
                "make a new one (every existing share link stops working) or set "
                "REPLAYDECK_SECRET."
            ) from None
        return value.encode("ascii")
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value.encode("ascii")


def signing_key(settings: Settings) -> bytes:
    """REPLAYDECK_SECRET (Settings checks its length), else the data directory's file."""
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode("utf-8")
    return secret_from_file(settings.data_dir / SECRET_FILE)


class ShareService:
    """The shares table plus the signing key. `clock` returns epoch microseconds."""

    def __init__(
        self, engine: AsyncEngine, key: bytes, *, clock: Callable[[], int] = now_us
    ) -> None:
        self.engine = engine
        self.key = key
        self.clock = clock

    def _connect(self, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, write=write)

    async def create(self, session_id: str, expires_in: int) -> CreatedShare:
        now = self.clock()
        # Whole seconds: the token carries epoch seconds, and the row must agree.
        expires_at = (now + expires_in * 1_000_000) // 1_000_000
        share = Share(
            id="sh_" + secrets.token_hex(8),
            session_id=session_id,
            created_at_us=now,
            expires_at_us=expires_at * 1_000_000,
        )
        async with self._connect(write=True) as connection:
            found = await connection.execute(
                sa.select(sessions.c.id).where(sessions.c.id == session_id)
            )
            if found.first() is None:
                raise SessionNotFound(session_id)
            await connection.execute(
                shares.insert().values(
                    id=share.id,
                    session_id=share.session_id,
                    created_at_us=share.created_at_us,
                    expires_at_us=share.expires_at_us,
                )
            )
        token = sign(ShareClaims(session_id, share.id, expires_at), self.key)
        return CreatedShare(share=share, token=token)

    async def revoke(self, share_id: str) -> Share:
        if (reason := flaw(share_id)) is not None:
            raise InvalidParameter(
                f"The share id {share_id[:40]!r} {reason}; pass the 'id' that "
                "POST /v1/sessions/{id}/shares returned."
            )
        async with self._connect(write=True) as connection:
            row = (
                await connection.execute(sa.select(shares).where(shares.c.id == share_id))
            ).one_or_none()
            if row is None:
                raise UnknownShare(share_id)
            share = _share(row)
            if share.revoked_at_us is not None:
                return share
            revoked = Share(
                id=share.id,
                session_id=share.session_id,
                created_at_us=share.created_at_us,
                expires_at_us=share.expires_at_us,
                revoked_at_us=self.clock(),
            )
            await connection.execute(
                shares.update()
                .where(shares.c.id == share_id)
                .values(revoked_at_us=revoked.revoked_at_us)
            )
            if connection.dialect.name == "postgresql":
                # Delivered only if the revocation commits; every replica then
                # ends the link's open streams.
                await connection.execute(revoked_statement(share_id))
        return revoked

    def seconds_left(self, share: Share) -> float:
        return max(0.0, (share.expires_at_us - self.clock()) / 1e6)

    async def open(self, token: str) -> Share:
        """The live share behind a token, or ShareNotFound for every kind of failure."""
        now = self.clock()
        try:
            claims = verify(token, self.key, now=datetime.fromtimestamp(now / 1_000_000, tz=UTC))
        except TokenInvalid:
            raise ShareNotFound() from None
        async with self._connect() as connection:
            row = (
                await connection.execute(sa.select(shares).where(shares.c.id == claims.share_id))
            ).one_or_none()
        # The row must agree with the signed claims: a share id cannot be moved
        # to another session or given a longer life by editing the table alone.
        if (
            row is None
            or row.revoked_at_us is not None
            or row.session_id != claims.session_id
            or row.expires_at_us != claims.expires_at * 1_000_000
            or row.expires_at_us <= now
        ):
            raise ShareNotFound()
        return _share(row)
