"""Streams run after the framework's stack has returned, still inside every middleware.

A live tail may stay open for hours, and every coroutine frame on its stack
stays in memory that long. Served the ordinary way, an SSE response runs at
the bottom of FastAPI's stack: the exception middleware, the router and the
included routers, the route's request handler and its two AsyncExitStacks, a
dozen frames and six deques that do nothing once the headers are decided, and
about 11 KiB per open stream (scripts/bench/idle.py: 19 -> 30 KiB).

So the route runs the ordinary way, from parameter validation and dependencies
to the exception handlers; only when the response it returns is a stream
(replaydeck.sse.EventStreamResponse) does the response hand itself to this
middleware instead of starting, and this middleware runs it once the stack
below has returned. Every middleware above this one, the app's and any a user
adds, sees the stream's messages as it would see any response's.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from replaydeck.sse import HANDOFF, EventStreamResponse


class StreamHandoff:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        handoff: list[EventStreamResponse] = []
        # The stack below gets its own copy of the scope: what it keeps there
        # (three AsyncExitStacks, the route's context) is freed with it.
        await self.app({**scope, HANDOFF: handoff}, receive, send)
        if handoff:
            stream = handoff.pop()
            await stream.run(scope, receive, send)
