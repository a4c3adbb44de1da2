"""HEAD on every GET route: served as the GET, with its status and headers and no body.

FastAPI's routes accept only the methods they declare, so a HEAD would be a 405
wherever GET works. This middleware hands the app a GET and marks the scope
(`HEAD_AS_GET`); the server keeps its own scope, which says HEAD, and sends no
body either way (uvicorn drops it; `_headers_only` makes sure for any server).
A stream answers the mark with its headers without opening the stream
(replaydeck.sse), and the access line and a 405's text still say HEAD.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replaydeck.sse import HEAD_AS_GET

__all__ = ["HEAD_AS_GET", "HeadAsGet", "method_of"]


def method_of(scope: Scope) -> str:
    """The method the client sent."""
    return "HEAD" if scope.get(HEAD_AS_GET) else str(scope["method"])


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    # Not `async`: every other request is the inner app's own coroutine, so this
    # adds no frame to a stream that stays open for hours.
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return self.app(scope, receive, send)
        return self.app({**scope, "method": "GET", HEAD_AS_GET: True}, receive, _headers_only(send))


def _headers_only(send: Send) -> Send:
    """`send` for a HEAD request: the response's start, then an empty body once it ends."""

    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return head_send
