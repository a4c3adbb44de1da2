"""`replaydeck trace SESSION -o file.json`: write a session's OTLP JSON document.

SESSION is a session id (read from the database, or from the server given by
--url) or a session URL such as http://host:8000/v1/sessions/ID (read from that
server's /trace route with a read key).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from replaydeck.cli.options import database_option, load_settings, local_engine, run, server_options
from replaydeck.testing.sources import (
    Remote,
    SourceError,
    api_client,
    get_json,
    is_url,
    session_url,
)

if TYPE_CHECKING:
    from replaydeck.config import Settings


async def _local(settings: Settings, session_id: str) -> dict[str, Any]:
    from replaydeck.errors import SessionNotFound
    from replaydeck.share.masking import mask_credentials
    from replaydeck.store.backends import open_store
    from replaydeck.tracing.document import session_document
    from replaydeck.tracing.runtime import build_resource

    async with local_engine(settings, create=False) as engine:
        try:
            return await session_document(
                open_store(engine),
                session_id,
                now_ns=time.time_ns(),
                idle_timeout_s=settings.trace_idle_timeout,
                resource=build_resource(os.environ),
                page_size=settings.read_page_size,
            )
        except SessionNotFound:
            raise click.ClickException(
                f"There is no session {session_id!r} in {mask_credentials(settings.database_url)}; "
                "list sessions with GET /v1/sessions."
            ) from None


async def _remote(url: str, api_key: str | None) -> dict[str, Any]:
    async with api_client(api_key) as client:
        return await get_json(client, f"{Remote.parse(url).session_url}/trace")


@click.command("trace")
@click.argument("session", metavar="SESSION")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: standard output).",
)
@server_options
@database_option
def trace(
    session: str,
    output: Path | None,
    url: str | None,
    api_key: str | None,
    database_url: str | None,
) -> None:
    """Write SESSION's spans as OTLP JSON (open it in Jaeger UI with "Upload JSON").

    SESSION is a session id or a session URL (http://host/v1/sessions/ID).
    """
    if is_url(session) or url is not None:
        target = session if is_url(session) else session_url(str(url), session)
        try:
            document = asyncio.run(_remote(target, api_key))
        except SourceError as e:
            raise click.ClickException(str(e)) from None
    else:
        settings = load_settings(database_url=database_url)
        document = run(_local(settings, session), database=settings.database_url)
    body = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if output is None:
        click.echo(body.decode())
        return
    output.write_bytes(body + b"\n")
    spans = sum(
        len(scope.get("spans", []))
        for resource in document.get("resourceSpans", [])
        for scope in resource.get("scopeSpans", [])
    )
    click.echo(f"Wrote {spans} spans of session {session!r} to {output}.", err=True)
