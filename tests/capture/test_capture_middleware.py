"""RecordingMiddleware on a FastAPI app served by a real uvicorn, recording into a real
replaydeck."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from replaydeck.capture.middleware import RecordingMiddleware
from replaydeck.capture.sdk import Recorder
from replaydeck.formats import make_decoder
from replaydeck.formats.sse import SSEFrame, SSEParser, parse_all
from tests.capture.helpers import recorded, serve_asgi
from tests.servers import RunningServer

IDLE = 0.2  # seconds a run under a client's id stays open after its last call


def chat_app(recorder: Recorder) -> FastAPI:
    steps: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await recorder.aclose()  # on the server's own loop, where the sessions ran

    app = FastAPI(lifespan=lifespan)

    @app.get("/chat/{session_id}")
    async def chat(session_id: str) -> StreamingResponse:
        step = steps.setdefault(session_id, asyncio.Semaphore(0))

        async def stream() -> AsyncIterator[bytes]:
            yield b'event: status\ndata: {"label": "thinking"}\n\n'
            await step.acquire()
            yield b'event: message.delta\ndata: {"text": "Hel'
            yield b'lo"}\n\n'  # a frame split across two chunks
            await step.acquire()
            yield b"data: plain words\n\n: a comment\n\nevent: final\ndata: {}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/step/{session_id}")
    async def next_step(session_id: str) -> dict[str, bool]:
        steps[session_id].release()
        return {"ok": True}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"hello": "world"}

    return app


@pytest.fixture
def app_url(server: RunningServer) -> Iterator[str]:
    recorder = Recorder(server.url, linger=0.005)
    app = RecordingMiddleware(chat_app(recorder), recorder, session_idle=IDLE)
    with serve_asgi(app) as url:
        yield url


def test_sse_is_passed_on_unbuffered_and_recorded(app_url: str, server: RunningServer) -> None:
    seen: list[SSEFrame] = []
    parser = SSEParser()
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", f"{app_url}/chat/chat-1") as response,
    ):
        # The path parameter names the session, and the response says so.
        assert response.headers["x-replaydeck-session"] == "chat-1"
        for chunk in response.iter_raw():
            frames = parser.feed(chunk)
            seen += frames
            # The app holds back its next event until this step: only a middleware that
            # never buffers lets the client see each event in time to ask for the next.
            if any(f.event in ("status", "message.delta") for f in frames):
                client.post(f"{app_url}/step/chat-1")
    assert [f.event for f in seen] == ["status", "message.delta", None, "final"]

    events = recorded(server.url, "chat-1")
    decoder = make_decoder("sse")
    decoded = [(c.type, c.data) for f in seen for c in decoder.decode(f)]
    # The path parameter is an id the client chose: the stream's `final` ends a turn of
    # a run that may go on, and the run ends once it has been idle.
    assert decoded[-1] == ("final", {"sse_event": "final"})
    assert [(e["type"], e["data"]) for e in events] == [
        *decoded[:-1],
        ("turn.end", {"sse_event": "final"}),
        ("final", {"reason": "idle", "turns": 1}),
    ]
    assert events[1]["data"] == {"text": "Hello"}
    # A plain SSE replay gives the app's frames back under their own names.
    replay = httpx.get(f"{server.url}/v1/sessions/chat-1/replay?format=sse&speed=max")
    assert [(f.event, as_value(f.data)) for f in parse_all(replay.content)] == [
        (f.event, as_value(f.data)) for f in seen
    ]


def as_value(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data


def test_a_request_header_names_the_session(app_url: str, server: RunningServer) -> None:
    with httpx.Client(timeout=5) as client:
        headers = {"X-Replaydeck-Session": "from-header"}
        with client.stream("GET", f"{app_url}/chat/ignored", headers=headers) as response:
            assert response.headers["x-replaydeck-session"] == "from-header"
            for chunk in response.iter_raw():
                if b"event: status" in chunk or b"event: message.delta" in chunk:
                    client.post(f"{app_url}/step/ignored")
    events = recorded(server.url, "from-header")
    assert [e["type"] for e in events[-2:]] == ["turn.end", "final"]


def test_a_failure_in_the_recording_never_breaks_the_stream(server: RunningServer) -> None:
    calls = 0

    def failing_clock() -> datetime:
        # The tee reads the clock once per chunk; the second chunk's read fails.
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("clock broke")
        return datetime.now(UTC)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await recorder.aclose()  # on the server's loop, where its connections live
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(3):
            body = b'event: status\ndata: {"label": "%d"}\n\n' % i
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    recorder = Recorder(server.url, linger=0.005)
    wrapped = RecordingMiddleware(app, recorder, clock=failing_clock)
    with serve_asgi(wrapped) as url:
        response = httpx.get(url)
        session_id = response.headers["x-replaydeck-session"]
    assert response.status_code == 200
    assert response.text.count("event: status") == 3
    events = recorded(server.url, session_id)
    assert [e["type"] for e in events] == ["status", "final"]
    assert events[-1]["data"] == {"synthetic": True, "reason": "capture_error"}


def test_other_responses_are_not_touched(app_url: str) -> None:
    response = httpx.get(f"{app_url}/plain")
    assert response.json() == {"hello": "world"}
    assert "x-replaydeck-session" not in response.headers
