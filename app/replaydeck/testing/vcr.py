"""``fake_stream(source)``: a recorded session served as an SSE upstream (VCR for SSE).

Point the code under test at the fake instead of its agent backend: every request
(GET, or a POST with the user's message, …), whatever its path, receives the recorded
replaydeck events as SSE frames at the recorded
timing (``speed=1``), faster (``speed=10``) or at once (``speed="max"``).
``Last-Event-ID`` resumes after that seq, like the real stream. The stream ends
after the last recorded event, as the upstream did; no control event is added.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from replaydeck.formats.sse import INLINE_HEARTBEAT, encode_event
from replaydeck.replay.clock import Clock, LoopClock
from replaydeck.replay.pacing import Pacer
from replaydeck.sse import EventStreamResponse, StreamCounter
from replaydeck.testing.playback import Source, load, load_local, parse_speed, ts_us
from replaydeck.testing.sources import Recording, is_url

STARTUP_TIMEOUT = 10.0
# What replaydeck's own streams use (Settings.sse_retry_ms, Settings.send_timeout).
RETRY_MS = 3000
SEND_TIMEOUT = 10.0


class _Player:
    def __init__(
        self,
        source: Source,
        *,
        speed: float | None,
        heartbeat_interval: float,
        clock: Clock | None,
        api_key: str | None,
    ) -> None:
        self.source = source
        self.speed = speed
        self.heartbeat_interval = heartbeat_interval
        self.clock = clock
        self.api_key = api_key
        self.counter = StreamCounter()
        # Files fail here, in the test that builds the fake, not in a 500 later.
        self._recording = None if is_url(source) else load_local(source)
        self._lock = anyio.Lock()

    async def recording(self) -> Recording:
        # Loaded on the first request, inside the server's loop: a URL source
        # needs an HTTP client, which must not outlive the loop it was made in.
        async with self._lock:
            if self._recording is None:
                self._recording = await load(self.source, api_key=self.api_key)
            return self._recording

    async def endpoint(self, request: Request) -> Response:
        recording = await self.recording()
        after = _last_event_id(request.headers.get("last-event-id"))
        events = [e for e in recording.events if int(e.get("seq", 0)) > after]
        return EventStreamResponse(
            self.frames(events),
            kind="fake",
            counter=self.counter,
            retry_ms=RETRY_MS,
            send_timeout=SEND_TIMEOUT,
            # It stands in for an LLM service, whose clients (openai-python) dispatch
            # an empty event on a `retry:`-only block or a blank line after a comment.
            inline=True,
        )

    async def frames(self, events: list[dict[str, Any]]) -> AsyncIterator[bytes]:
        clock = self.clock or LoopClock()
        pacer = Pacer(start=clock.now(), speed=self.speed)
        for event in events:
            due = pacer.due(ts_us(event))
            # Keep-alives through long recorded pauses, as the real service would.
            while due - clock.now() > self.heartbeat_interval:
                await clock.sleep_until(clock.now() + self.heartbeat_interval)
                yield INLINE_HEARTBEAT
            await clock.sleep_until(due)
            yield encode_event(int(event["seq"]), str(event["type"]), orjson.dumps(event))


def _last_event_id(value: str | None) -> int:
    try:
        return max(0, int(value)) if value else 0
    except ValueError:
        return 0


def fake_stream(
    source: Source,
    *,
    speed: float | str = 1,
    heartbeat_interval: float = 15.0,
    clock: Clock | None = None,
    api_key: str | None = None,
) -> ASGIApp:
    """An ASGI app that streams ``source`` (a file, URL or envelope list) as SSE."""
    player = _Player(
        source,
        speed=parse_speed(speed),
        heartbeat_interval=heartbeat_interval,
        clock=clock,
        api_key=api_key,
    )
    # Any method: a chat client POSTs its turn and reads the stream from the answer. (A
    # stand-in for an LLM service, with that service's own bytes, is a recorded
    # upstream: upstream.py.)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", player.endpoint, methods=methods)])
    app.state.player = player
    return app


@contextmanager
def serve(app: ASGIApp, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``app`` under a real uvicorn on a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake stream server did not start on {host}:{port}")
            # Waits on the server thread, so a crash there ends the wait at once.
            thread.join(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        sock.close()


@contextmanager
def serve_fake_stream(
    source: Source,
    *,
    speed: float | str = 1,
    heartbeat_interval: float = 15.0,
    api_key: str | None = None,
) -> Iterator[str]:
    """``fake_stream(source)`` on a real port: ``with serve_fake_stream(f) as url: ...``."""
    app = fake_stream(source, speed=speed, heartbeat_interval=heartbeat_interval, api_key=api_key)
    with serve(app) as url:
        yield url
