"""The proxy and what an upstream's response carries besides events: a compressed
stream is recorded from a decoded copy (the client gets the bytes as sent), a coding
that cannot be decoded is passed on with a log line, the upstream's `date` and `server`
come through once, and an app's own SSE `id:` values come back in a `format=sse` replay.
Through the real proxy (uvicorn, configured as `replaydeck proxy` runs it) in front of
a real upstream server."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from replaydeck.capture.proxy import UVICORN_OPTIONS, ProxyApp
from replaydeck.capture.sdk import Recorder
from replaydeck.formats.sse import parse_all
from tests.capture.helpers import recorded, serve_asgi
from tests.servers import RunningServer

FRAMES = [
    b'id: evt-1\nevent: status\ndata: {"label": "searching"}\n\n',
    b'id: evt-2\nevent: message.delta\ndata: {"text": "Hello"}\n\n',
    b'event: message.delta\ndata: {"text": " there"}\n\n',
    b"id: evt-4\nevent: final\ndata: {}\n\n",
]
PLAIN = b"".join(FRAMES)


def compressed(coding: str) -> list[bytes]:
    """Each frame flushed as it is sent, as a compressing server streams."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}[coding]
    compressor = zlib.compressobj(wbits=wbits)
    chunks = [compressor.compress(f) + compressor.flush(zlib.Z_SYNC_FLUSH) for f in FRAMES]
    return [*chunks, compressor.flush()]


def stream(request: Request) -> StreamingResponse:
    coding = request.query_params.get("coding", "")
    chunks = FRAMES if not coding else compressed(coding) if coding != "br" else [b"\x1b\x00"]

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    headers = {"content-encoding": coding} if coding else {}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


@pytest.fixture
def proxy(server: RunningServer) -> Iterator[str]:
    recorder = Recorder(server.url, linger=0.005)
    with (
        serve_asgi(Starlette(routes=[Route("/stream", stream)])) as upstream,
        serve_asgi(ProxyApp(upstream, recorder), **UVICORN_OPTIONS) as url,
    ):
        yield url


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_compressed_stream_is_recorded_and_reaches_the_client_as_sent(
    proxy: str, server: RunningServer, coding: str
) -> None:
    with httpx.stream("GET", f"{proxy}/stream", params={"coding": coding}) as response:
        session_id = response.headers["x-replaydeck-session"]
        assert response.headers["content-encoding"] == coding
        raw = b"".join(response.iter_raw())
    assert raw == b"".join(compressed(coding))  # untouched: compressed, as sent
    events = recorded(server.url, session_id)
    assert [(e["type"], e["data"].get("text")) for e in events] == [
        ("status", None),
        ("message.delta", "Hello"),
        ("message.delta", " there"),
        ("final", None),
    ]


def test_a_coding_that_cannot_be_decoded_is_passed_on_and_logged(
    proxy: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="replaydeck.capture"):
        response = httpx.get(f"{proxy}/stream", params={"coding": "br"})
    assert response.content == b"\x1b\x00"  # httpx has no brotli here: the raw bytes
    assert "x-replaydeck-session" not in response.headers
    assert "content-encoding 'br' is passed on but not recorded" in caplog.text


def test_the_upstreams_date_and_server_come_through_once(proxy: str) -> None:
    response = httpx.get(f"{proxy}/stream")
    names = [name.lower() for name, _ in response.headers.raw]
    assert names.count(b"date") == 1
    assert names.count(b"server") == 1
    assert response.headers["server"] == "uvicorn"  # the upstream's own


def test_the_apps_own_sse_ids_come_back_in_a_plain_sse_replay(
    proxy: str, server: RunningServer
) -> None:
    response = httpx.get(f"{proxy}/stream")
    session_id = response.headers["x-replaydeck-session"]
    assert response.content == PLAIN
    recorded(server.url, session_id)
    replay = httpx.get(
        f"{server.url}/v1/sessions/{session_id}/replay", params={"speed": "max", "format": "sse"}
    )
    frames = parse_all(replay.content)
    # The app's ids where it set them; the frame it sent without one carries its seq,
    # so a client that reconnects from there resumes by Last-Event-ID.
    expected = [(f.id, f.event, json.loads(f.data)) for f in parse_all(PLAIN)]
    expected[2] = ("3", *expected[2][1:])
    assert [(f.id, f.event, json.loads(f.data)) for f in frames] == expected
