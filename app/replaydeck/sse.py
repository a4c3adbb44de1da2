"""Server-Sent Events responses that end themselves (the framing is formats/sse.py).

`EventStreamResponse`
pumps an async iterator of ready-made frames while a second task listens for
the client's disconnect; a disconnect or a stalled send cancels the pump, so a
vanished client stops all server work for it at once, even mid-wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from replaydeck.formats.sse import encode_retry, encode_retry_field

log = logging.getLogger("replaydeck.sse")

# Scope key of a HEAD request served as its GET (replaydeck.web.head): a stream
# then sends its headers and ends, without reading or subscribing to anything.
HEAD_AS_GET = "replaydeck.head"
# Scope key of a list into which a stream hands itself, to be run once the
# framework's stack has returned (replaydeck.web.handoff).
HANDOFF = "replaydeck.handoff"

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class StreamCounter:
    """Active streams by kind, for /metrics and for tests that check clean-up."""

    def __init__(self) -> None:
        self.active: dict[str, int] = {}

    def total(self) -> int:
        return sum(self.active.values())

    def add(self, kind: str, delta: int) -> None:
        self.active[kind] = self.active.get(kind, 0) + delta


class _Handle(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    """The part of an event loop a deadline needs; tests pass a fake clock."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None], /) -> _Handle: ...


class SendDeadline:
    """Gives up on a client whose send has been blocked for `timeout` seconds.

    Nearly every send returns at once (the transport buffers it), so an
    `asyncio.timeout` per send would allocate a timer and a context manager per
    write for nothing. Instead one timer per stream is armed when a send starts
    and none is pending; when it fires it looks at the send in progress, if
    any: blocked long enough, the stream is over; otherwise it re-arms for that
    send's own deadline. An idle stream has no timer at all.
    """

    __slots__ = ("_expire", "_loop", "_since", "_timeout", "_timer")

    def __init__(self, loop: Timers, timeout: float, expire: Callable[[], None]) -> None:
        self._loop = loop
        self._timeout = timeout
        self._expire = expire
        self._since: float | None = None
        self._timer: _Handle | None = None

    def sending(self) -> None:
        self._since = now = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(now + self._timeout, self._check)

    def sent(self) -> None:
        self._since = None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._since is None:
            return  # idle: the next send arms the timer again
        due = self._since + self._timeout
        if self._loop.time() >= due:
            self._expire()
        else:
            self._timer = self._loop.call_at(due, self._check)


class Lease(Protocol):
    """A stream's slot among its client's open streams (replaydeck.web.streams)."""

    def attach(self, stop: Callable[[], None]) -> None:
        """The stream has started; `stop()` ends it (a revoked or expired share link)."""
        ...

    def release(self) -> None:
        """The stream has ended; its slot is free."""
        ...


class EventStreamResponse(Response):
    """An ASGI response streaming SSE frames until the iterator or the client ends.

    The frames are pumped in the request's own task; one listener task waits
    for the client's disconnect. A disconnect, or a send blocked past
    `send_timeout`, cancels the pump wherever it waits, so a vanished or
    stalled client stops all server work for it at once. (A second task for
    the pump, and `asyncio.wait` over both, cost memory for every open stream.)
    Its `lease` may stop it from outside too: the pump is cancelled the same
    way, and the body is then ended properly, so the client sees the stream
    close rather than a broken connection. Headers are `raw_headers`, so a
    caller may add its own (request id, share headers) before the response runs.
    With `inline`, for a stream in another protocol whose frames come with
    INLINE_HEARTBEAT keep-alives, `retry:` joins the first event's block instead of
    being a block of its own (see replaydeck.formats.sse).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        kind: str,
        counter: StreamCounter,
        retry_ms: int,
        send_timeout: float,
        lease: Lease | None = None,
        inline: bool = False,
    ) -> None:
        self.frames = frames
        self.kind = kind
        self.counter = counter
        self.preamble: bytes | None = (encode_retry_field if inline else encode_retry)(retry_ms)
        self.send_timeout = send_timeout
        self.lease = lease
        self.ended: str | None = None
        self.started = False
        super().__init__(status_code=200, media_type=self.media_type)
        # Response would add content-length: 0 for the empty body.
        self.raw_headers = list(HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get(HEAD_AS_GET):
            await self._headers_only(send)
            return
        handoff: list[EventStreamResponse] | None = scope.get(HANDOFF)
        if handoff is not None:
            handoff.append(self)  # run by replaydeck.web.handoff, with its own send
            return
        await self.run(scope, receive, send)

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream until the frames or the client end."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        finished = False

        def end(reason: str) -> None:
            if not finished and self.ended is None:
                self.ended = reason
                task.cancel()

        self.counter.add(self.kind, 1)
        deadline = SendDeadline(loop, self.send_timeout, lambda: end("stalled"))
        listener = loop.create_task(self._listen(receive, end))
        cancelling = task.cancelling()
        if self.lease is not None:
            self.lease.attach(lambda: end("stopped"))
        try:
            await self._pump(send, deadline)
        except asyncio.CancelledError:
            # Ours (disconnect, stall, stop) ends the stream quietly; anyone
            # else's (server shutdown) goes on up, as asyncio.timeout does it.
            if self.ended is None or task.uncancel() > cancelling:
                raise
            if self.ended == "stopped":
                await self._close(send)
        except OSError:
            self.ended = "disconnected"  # ASGI 2.4 servers raise it on send
        except Exception:
            log.exception("stream ended by an error")
        finally:
            finished = True
            deadline.close()
            listener.cancel()
            aclose: Any = getattr(self.frames, "aclose", None)
            if aclose is not None:
                await aclose()
            self.counter.add(self.kind, -1)
            if self.lease is not None:
                self.lease.release()

    async def _pump(self, send: Send, deadline: SendDeadline) -> None:
        sending, sent = deadline.sending, deadline.sent
        sending()
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        self.started = True
        if self.preamble is not None:
            await send({"type": "http.response.body", "body": self.preamble, "more_body": True})
        sent()
        async for chunk in self.frames:
            sending()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent()
        sending()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        sent()

    async def _headers_only(self, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            aclose: Any = getattr(self.frames, "aclose", None)
            if aclose is not None:
                await aclose()
            if self.lease is not None:
                self.lease.release()

    async def _close(self, send: Send) -> None:
        """End a stopped stream's body. The cancellation came between two sends (a
        server's send only waits before it writes), so the body is whole so far."""
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(self.send_timeout):
                if not self.started:
                    start = {"type": "http.response.start", "status": 200}
                    await send({**start, "headers": self.raw_headers})
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _listen(receive: Receive, end: Callable[[str], None]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                end("disconnected")
                return


class NdjsonStreamResponse(EventStreamResponse):
    """An NDJSON download, pumped like a stream: bounded writes, the send timeout, a lease."""

    media_type = "application/x-ndjson"

    def __init__(
        self,
        lines: AsyncIterator[bytes],
        *,
        counter: StreamCounter,
        send_timeout: float,
        lease: Lease | None = None,
    ) -> None:
        super().__init__(
            lines,
            kind="ndjson",
            counter=counter,
            retry_ms=0,
            send_timeout=send_timeout,
            lease=lease,
        )
        self.preamble = None
        self.raw_headers = [(b"content-type", self.media_type.encode())]
