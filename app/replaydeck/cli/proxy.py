"""`replaydeck proxy`: the recording reverse proxy as a command."""

from __future__ import annotations

import click

from replaydeck.formats import DECODE_FORMATS


@click.command()
@click.option(
    "--upstream", required=True, metavar="URL", help="The app to proxy, e.g. http://127.0.0.1:3000"
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--store",
    default="http://127.0.0.1:8000",
    show_default=True,
    metavar="URL",
    help="The replaydeck server that records the sessions.",
)
@click.option(
    "--api-key",
    envvar="REPLAYDECK_API_KEY",
    help="An ingest-scoped API key for the store (env REPLAYDECK_API_KEY).",
)
@click.option(
    "--format",
    "stream_format",
    type=click.Choice(DECODE_FORMATS),
    default="auto",
    show_default=True,
    help="How to read the app's SSE; auto detects OpenAI Responses, Vercel AI and AG-UI.",
)
@click.option(
    "--buffer-size",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events kept per session while the store is unreachable (the oldest are dropped).",
)
@click.option(
    "--session-idle",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="A run of model calls under one X-Replaydeck-Session id ends after this long "
    "with no call in flight.",
)
@click.option(
    "--record-wire",
    is_flag=True,
    help="Also record each stream's request and raw bytes (http.* events), so that tests "
    "can play the upstream back (replaydeck.testing.RecordedUpstream).",
)
def proxy(
    upstream: str,
    host: str,
    port: int,
    store: str,
    api_key: str | None,
    stream_format: str,
    buffer_size: int,
    session_idle: float,
    record_wire: bool,
) -> None:
    """Proxy an app and record its SSE responses as sessions.

    Every request passes through unchanged; each text/event-stream response is
    recorded under the id in its X-Replaydeck-Session response header (the request's
    own X-Replaydeck-Session header chooses it, and several model calls under one id
    are one session).
    """
    import uvicorn

    from replaydeck.capture.proxy import UVICORN_OPTIONS, ProxyApp
    from replaydeck.capture.sdk import Recorder

    if not upstream.startswith(("http://", "https://")):
        raise click.BadParameter(
            "give a URL such as http://127.0.0.1:3000", param_hint="--upstream"
        )
    recorder = Recorder(store, api_key, buffer_size=buffer_size)
    app = ProxyApp(
        upstream,
        recorder,
        format=stream_format,
        session_idle=session_idle,
        record_wire=record_wire,
    )
    click.echo(f"replaydeck proxy on http://{host}:{port} -> {upstream}  (recording to {store})")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=3,
        **UVICORN_OPTIONS,
    )
