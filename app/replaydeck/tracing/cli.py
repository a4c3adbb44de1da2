"""`replaydeck trace SESSION -o file.json`: write a session's OTLP JSON document."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import click
import orjson

from replaydeck.config import Settings
from replaydeck.errors import ReplaydeckError, SessionNotFound


@click.command("trace")
@click.argument("session_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: standard output).",
)
@click.option(
    "--database-url",
    metavar="URL",
    help="Database URL (env REPLAYDECK_DATABASE_URL). Default: "
    "sqlite+aiosqlite:///./data/replaydeck.db",
)
def trace(session_id: str, output: Path | None, database_url: str | None) -> None:
    """Write SESSION's spans as OTLP JSON (open it in Jaeger UI with "Upload JSON")."""
    from replaydeck.cli import load_settings

    settings = load_settings(database_url=database_url)
    path = settings.sqlite_path
    if path is not None and not path.exists():
        # Opening it would create an empty database file as a side effect of a read.
        raise click.ClickException(
            f"There is no database at {path}; pass --database-url (or set "
            "REPLAYDECK_DATABASE_URL) to the one `replaydeck serve` uses."
        )
    try:
        document = asyncio.run(_document(settings, session_id))
    except SessionNotFound:
        raise click.ClickException(
            f"There is no session {session_id!r} in {settings.database_url}; "
            "list sessions with GET /v1/sessions."
        ) from None
    except ReplaydeckError as e:
        raise click.ClickException(e.detail) from None
    body = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if output is None:
        click.echo(body.decode())
        return
    output.write_bytes(body + b"\n")
    spans = sum(
        len(scope.get("spans", []))
        for resource in document["resourceSpans"]
        for scope in resource.get("scopeSpans", [])
    )
    click.echo(f"Wrote {spans} spans of session {session_id!r} to {output}.", err=True)


async def _document(settings: Settings, session_id: str) -> dict[str, Any]:
    from replaydeck.store.engine import make_engine
    from replaydeck.store.sql import SqlEventStore
    from replaydeck.tracing.document import session_document
    from replaydeck.tracing.provider import build_resource

    engine = make_engine(settings)
    try:
        return await session_document(
            SqlEventStore(engine),
            session_id,
            now_ns=time.time_ns(),
            idle_timeout_s=settings.trace_idle_timeout,
            resource=build_resource(os.environ),
            page_size=settings.read_page_size,
        )
    finally:
        await engine.dispose()
