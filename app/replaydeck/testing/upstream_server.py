"""A recorded upstream on a real port, for clients that are not Python (or not httpx).

    with serve_upstream("tests/upstreams/chat.json") as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="test")

The ASGI app below hands each request to a ``RecordedUpstream`` and sends back what it
answers, chunk by chunk as played. When it records, the request goes on to
``upstream`` (a base URL such as ``https://api.openai.com``) with the same path. A
request with no recorded exchange is answered ``404`` with a problem+json body that
says why, and the pytest fixture fails the test on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
from starlette.types import Receive, Scope, Send

from replaydeck.capture.proxy import send_body
from replaydeck.testing.cassette import UnrecordedRequest
from replaydeck.testing.streams import InjectedDisconnect
from replaydeck.testing.upstream import RecordedUpstream
from replaydeck.testing.vcr import serve

# Where a request goes when nothing is recorded and no upstream was given: never sent.
NOWHERE = "http://upstream.invalid"
DROPPED_REQUEST_HEADERS = frozenset({"host", "connection", "transfer-encoding", "content-length"})


class UpstreamApp:
    def __init__(self, upstream: RecordedUpstream, target: str | None = None) -> None:
        self.upstream = upstream
        self.target = (target or NOWHERE).rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await self.upstream.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        url = (
            self.target + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        )
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in DROPPED_REQUEST_HEADERS
        ]
        request = httpx.Request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self.answer(request, receive)
        except UnrecordedRequest as e:
            await problem(send, 404, "No recorded exchange", str(e))
            return
        if response is not None:
            await self.relay(response, receive, send)

    async def answer(self, request: httpx.Request, receive: Receive) -> httpx.Response | None:
        """The upstream's answer; None when the client left first (an injected latency
        past its timeout), which leaves the exchange for the client's retry."""
        response: httpx.Response | None = None
        refusal: UnrecordedRequest | None = None
        with anyio.CancelScope() as scope:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch_disconnect)
                try:
                    response = await self.upstream.handle_async_request(request)
                except UnrecordedRequest as e:
                    refusal = e  # raised out here, not wrapped in the group's ExceptionGroup
                finally:
                    tg.cancel_scope.cancel()
        if refusal is not None:
            raise refusal
        return response

    async def relay(self, response: httpx.Response, receive: Receive, send: Send) -> None:
        headers = [
            (k, v) for k, v in response.headers.raw if k.lower() not in (b"transfer-encoding",)
        ]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        try:
            await send_body(stream, receive, send)
        except* InjectedDisconnect:
            # Returning with the body unfinished makes the server drop the connection,
            # which is the fault asked for (it logs that the response was incomplete).
            pass
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()


async def problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


@contextmanager
def serve_upstream(
    source: str | RecordedUpstream, *, upstream: str | None = None, **options: Any
) -> Iterator[str]:
    """A recorded upstream (a file, or a ``RecordedUpstream``) on a real port; yields its
    base URL. ``options`` go to ``RecordedUpstream`` (``mode``, ``match``, ``speed`` …)."""
    player = source if isinstance(source, RecordedUpstream) else RecordedUpstream(source, **options)
    with serve(UpstreamApp(player, upstream)) as url:
        yield url
