"""`replaydeck share SESSION --expires 7d`: print a signed, read-only replay URL.

With --url the running server makes the link (with an admin key), so the URL has
the server's own address. On the database directly, the link needs a base the
command cannot know (the server may run on any host and port): --public-url or
REPLAYDECK_PUBLIC_URL, else the command refuses rather than print a guess.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click
import httpx

from replaydeck.cli.options import database_option, load_settings, local_engine, run, server_options
from replaydeck.durations import parse_duration

if TYPE_CHECKING:
    from replaydeck.config import Settings
    from replaydeck.share.service import CreatedShare

MIN_EXPIRES = timedelta(minutes=1)
MAX_EXPIRES = timedelta(days=365)


def _expires(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    try:
        lifetime = parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if not MIN_EXPIRES <= lifetime <= MAX_EXPIRES:
        raise click.BadParameter(f"{value!r} is out of range; a share link lives from 1m to 365d.")
    return int(lifetime.total_seconds())


async def _create_local(settings: Settings, session_id: str, expires_in: int) -> CreatedShare:
    from replaydeck.share.service import ShareService, signing_key

    async with local_engine(settings, create=False) as engine:
        return await ShareService(engine, signing_key(settings)).create(session_id, expires_in)


def _create_remote(url: str, api_key: str | None, session_id: str, expires_in: int) -> Any:
    from replaydeck.testing.sources import detail, session_url

    target = f"{session_url(url, session_id)}/shares"
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.post(target, json={"expires_in": expires_in}, headers=headers, timeout=30)
    except httpx.HTTPError as e:
        raise click.ClickException(f"Could not reach {url} ({e}); is the server running?") from e
    if response.status_code != 201:
        raise click.ClickException(f"{target} answered {response.status_code}: {detail(response)}")
    return response.json()


@click.command()
@click.argument("session_id", metavar="SESSION")
@click.option(
    "--expires",
    default="7d",
    show_default=True,
    callback=_expires,
    help="Lifetime: 30m, 12h, 7d, 2w …",
)
@server_options
@database_option
@click.option(
    "--public-url",
    metavar="URL",
    help="The server's public base URL, for links made on the database (env "
    "REPLAYDECK_PUBLIC_URL).",
)
def share(
    session_id: str,
    expires: int,
    url: str | None,
    api_key: str | None,
    database_url: str | None,
    public_url: str | None,
) -> None:
    """Print a signed, read-only replay URL for SESSION (revoke: DELETE /v1/shares/{id}).

    With --url the server makes it (an admin key); else it is made on the database,
    and --public-url (or REPLAYDECK_PUBLIC_URL) says where the server is.
    """
    if url is not None:
        body = _create_remote(url, api_key, session_id, expires)
        share_id, link, expires_at = body["id"], body["url"], body["expires_at"]
    else:
        settings = load_settings(database_url=database_url, public_url=public_url)
        if settings.public_url is None:
            raise click.UsageError(
                "Which server will open this link? Pass --url http://HOST:PORT (the server "
                "makes the link), or --public-url (or REPLAYDECK_PUBLIC_URL) with the "
                "server's public address."
            )
        created = run(_create_local(settings, session_id, expires), database=settings.database_url)
        share_id = created.share.id
        link = f"{settings.public_url.rstrip('/')}/r/{created.token}"
        expires_at = created.share.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"Share {share_id} for session {session_id!r}, valid until {expires_at}:", err=True)
    click.echo(link)
