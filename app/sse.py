"""Server-Sent Events: pure framing, and a response that ends itself.

Framing is pure bytes so it can be tested exactly. `EventStreamResponse`
pumps an async iterator of ready-made frames while a second task listens for
the client's disconnect; whichever finishes first cancels the other, so a
vanished client stops all server work for it at once, even mid-wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("replaydeck.sse")

HEARTBEAT = b": keep-alive\n\n"
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def encode_frame(data: bytes, *, event: str | None = None, id: int | str | None = None) -> bytes:
    """One SSE frame. `data` may hold newlines; each line becomes a data: line."""
    parts: list[bytes] = []
    if id is not None:
        parts.append(b"id: %s\n" % str(id).encode())
    if event is not None:
        parts.append(b"event: %s\n" % event.encode())
    for line in data.splitlines() or [b""]:
        parts.append(b"data: %s\n" % line)
    parts.append(b"\n")
    return b"".join(parts)


def encode_event(seq: int, event_type: str, envelope: bytes) -> bytes:
    # The hot path: an envelope is one JSON line (orjson never emits newlines).
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, event_type.encode(), envelope)


def encode_retry(milliseconds: int) -> bytes:
    return b"retry: %d\n\n" % milliseconds


def encode_comment(text: str) -> bytes:
    return b"".join(b": %s\n" % line.encode() for line in text.splitlines() or [""]) + b"\n"


class StreamCounter:
    """Active streams by kind, for /metrics and for tests that check clean-up."""

    def __init__(self) -> None:
        self.active: dict[str, int] = {}

    def total(self) -> int:
        return sum(self.active.values())

    def add(self, kind: str, delta: int) -> None:
        self.active[kind] = self.active.get(kind, 0) + delta


class EventStreamResponse(Response):
    """An ASGI response streaming SSE frames until the iterator or the client ends."""

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        kind: str,
        counter: StreamCounter,
        retry_ms: int,
        send_timeout: float,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.frames = frames
        self.kind = kind
        self.counter = counter
        self.retry_ms = retry_ms
        self.send_timeout = send_timeout
        self.on_close = on_close
        super().__init__(status_code=200, media_type=self.media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.counter.add(self.kind, 1)
        try:
            pump = asyncio.ensure_future(self._pump(send))
            listen = asyncio.ensure_future(self._listen(receive))
            try:
                await asyncio.wait((pump, listen), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (pump, listen):
                    task.cancel()
                await asyncio.gather(pump, listen, return_exceptions=True)
            if not pump.cancelled() and (error := pump.exception()) is not None:
                log.error("stream ended by an error", exc_info=error)
        finally:
            aclose: Any = getattr(self.frames, "aclose", None)
            if aclose is not None:
                await aclose()
            self.counter.add(self.kind, -1)
            if self.on_close is not None:
                self.on_close()

    async def _send(self, send: Send, message: dict[str, Any]) -> None:
        # A client that stops reading fills the socket buffer and blocks send;
        # after send_timeout we give up on it rather than hold its resources.
        async with asyncio.timeout(self.send_timeout):
            await send(message)

    async def _pump(self, send: Send) -> None:
        try:
            await self._send(
                send,
                {"type": "http.response.start", "status": 200, "headers": HEADERS},
            )
            await self._send(
                send,
                {
                    "type": "http.response.body",
                    "body": encode_retry(self.retry_ms),
                    "more_body": True,
                },
            )
            async for chunk in self.frames:
                await self._send(
                    send, {"type": "http.response.body", "body": chunk, "more_body": True}
                )
            await self._send(send, {"type": "http.response.body", "body": b"", "more_body": False})
        except (OSError, TimeoutError):
            # The client went away (ASGI 2.4 raises OSError on send) or stalled.
            return

    @staticmethod
    async def _listen(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
