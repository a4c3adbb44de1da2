"""`replaydeck serve`, `db upgrade` and `demo`: the commands of the `[server]` extra."""

from __future__ import annotations

import asyncio

import click

from replaydeck.cli.options import database_option, load_settings, require_server, run


@click.command()
@click.option("--host", help="Interface to bind (env REPLAYDECK_HOST). Default: 127.0.0.1")
@click.option("--port", type=int, help="Port to listen on (env REPLAYDECK_PORT). Default: 8000")
@database_option
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Allow a non-loopback bind with no API keys (the API is then open to anyone).",
)
@click.option(
    "--open-without-keys",
    is_flag=True,
    default=None,
    help="Serve /v1 without keys while no key is active, even though keys existed "
    "(env REPLAYDECK_OPEN_WITHOUT_KEYS). Without it, revoking every key closes the API.",
)
@click.option(
    "--demo", is_flag=True, help="Record the demo session first if the database is empty."
)
def serve(
    host: str | None,
    port: int | None,
    database_url: str | None,
    insecure: bool | None,
    open_without_keys: bool | None,
    demo: bool,
) -> None:
    """Apply migrations and serve the API, live tails and replays."""
    require_server("replaydeck serve")
    import uvicorn

    from replaydeck.auth.startup import UnsafeBind, check_bind
    from replaydeck.share.masking import mask_credentials
    from replaydeck.web.app import create_app
    from replaydeck.web.http_limits import bounded_protocol
    from replaydeck.web.logs import configure_logging
    from replaydeck.web.serve import freeze_startup_heap, prepare

    settings = load_settings(
        host=host,
        port=port,
        database_url=database_url,
        insecure=insecure,
        open_without_keys=open_without_keys,
    )
    # JSON lines when stderr is not a terminal; uvicorn's loggers join in.
    configure_logging()
    try:
        # Keys or a loopback bind; else refuse, unless --insecure (auth/startup.py).
        asyncio.run(check_bind(settings))
    except UnsafeBind as e:
        raise click.ClickException(str(e)) from None
    demo_id = run(prepare(settings, demo=demo), database=settings.database_url)
    base = f"http://{settings.host}:{settings.port}"
    # Start-up output ends up in logs: never the database password.
    click.echo(f"replaydeck on {base}  (database: {mask_credentials(settings.database_url)})")
    if demo_id is not None:
        click.echo(f"  watch it:     {base}/sessions/{demo_id}")
        click.echo(f"  follow live:  curl -N {base}/v1/sessions/{demo_id}/stream")
        click.echo(f"  replay:       curl -N '{base}/v1/sessions/{demo_id}/replay?speed=1'")
        click.echo(f"  events:       {base}/v1/sessions/{demo_id}/events")
    click.echo(f"  API docs:     {base}/docs")
    app = create_app(settings.model_copy(update={"migrate_on_start": False}))
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        # Keep configure_logging's handler; replaydeck.web.logs writes the access lines,
        # with request ids and share tokens masked.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        # httptools alone accepts headers of any size and waits forever for them.
        http=bounded_protocol(
            max_head_bytes=settings.max_header_bytes, head_timeout=settings.header_timeout
        ),
    )


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@database_option
def db_upgrade(database_url: str | None) -> None:
    """Apply all pending migrations."""
    from replaydeck.share.masking import mask_credentials
    from replaydeck.web.serve import migrate

    settings = load_settings(database_url=database_url)
    run(migrate(settings), database=settings.database_url)
    click.echo(f"Database at {mask_credentials(settings.database_url)} is up to date.")


@click.command()
@database_option
@click.option("--session", "session_id", default="demo", show_default=True, help="Session id.")
def demo(database_url: str | None, session_id: str) -> None:
    """Record the demo session (an agent answering with a web search)."""
    from replaydeck.web.serve import record_demo_session

    settings = load_settings(database_url=database_url)
    last_seq = run(record_demo_session(settings, session_id), database=settings.database_url)
    click.echo(f"Recorded session {session_id!r} with {last_seq} events.")
