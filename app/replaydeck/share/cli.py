"""`replaydeck share SESSION --expires 7d`: print a signed, read-only replay URL."""

from __future__ import annotations

import asyncio
import re

import click

from replaydeck.config import Settings
from replaydeck.share.service import MAX_EXPIRES_IN, CreatedShare, ShareService, signing_key

_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """'90' / '90s', '15m', '12h', '7d', '2w' → seconds; ValueError with a sentence."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; write a number with a unit, such as 30m, 12h, 7d or 2w."
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 60 <= seconds <= MAX_EXPIRES_IN:
        raise ValueError(f"{text!r} is out of range; a share link lives from 1m to 365d.")
    return seconds


def public_base(settings: Settings) -> str:
    return settings.public_url or f"http://{settings.host}:{settings.port}"


async def create_share(settings: Settings, session_id: str, expires_in: int) -> CreatedShare:
    from replaydeck.store.engine import make_engine
    from replaydeck.store.migrate import upgrade

    engine = make_engine(settings)
    try:
        await upgrade(engine)
        return await ShareService(engine, signing_key(settings)).create(session_id, expires_in)
    finally:
        await engine.dispose()


@click.command()
@click.argument("session_id", metavar="SESSION")
@click.option("--expires", default="7d", show_default=True, help="Lifetime: 30m, 12h, 7d, 2w …")
@click.option("--database-url", metavar="URL", help="Database URL (env REPLAYDECK_DATABASE_URL).")
@click.option("--public-url", metavar="URL", help="URL base (env REPLAYDECK_PUBLIC_URL).")
def share(session_id: str, expires: str, database_url: str | None, public_url: str | None) -> None:
    """Print a signed, read-only replay URL for SESSION (revoke: DELETE /v1/shares/{id})."""
    from replaydeck.cli import load_settings  # replaydeck.cli registers this command: import late
    from replaydeck.errors import SessionNotFound

    try:
        expires_in = parse_duration(expires)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--expires") from None
    settings = load_settings(database_url=database_url, public_url=public_url)
    try:
        created = asyncio.run(create_share(settings, session_id, expires_in))
    except SessionNotFound as e:
        raise click.ClickException(e.detail) from None
    expires_at = created.share.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"Share {created.share.id} for session {session_id!r}, valid until {expires_at}:",
               err=True)  # fmt: skip
    click.echo(f"{public_base(settings)}/r/{created.token}")
