"""The producer's W3C `traceparent`, as the current OpenTelemetry context of its request.

The store wrapper reads it wherever a session gets created
(replaydeck.tracing.context), so no route passes headers along.
(opentelemetry-instrumentation-asgi would also do this, but it records a
server span per request, which replaydeck does not want in the session traces.)
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send

from replaydeck.tracing.context import producer_trace


class TraceparentMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    # Not `async` for a request without the header (every stream, nearly every
    # append): it is then the inner app's own coroutine, and adds no frame.
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or not any(k == b"traceparent" for k, _ in scope["headers"]):
            return self.app(scope, receive, send)
        return self._traced(scope, receive, send)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        with producer_trace(scope):
            await self.app(scope, receive, send)
