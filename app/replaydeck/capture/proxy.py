"""The recording reverse proxy: `replaydeck proxy --upstream URL` in front of any app.

Every request is passed through with httpx, streaming both ways, chunk by chunk as the
upstream's socket delivers it (`aiter_raw`: no decoding, no re-chunking). SSE responses
get `X-Accel-Buffering: no` and are recorded by the same RecordingMiddleware that
Python apps use; everything else passes untouched. A client that disconnects cancels
the relay at once, and closing the half-read upstream response closes its connection,
so the upstream app sees the disconnect too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import anyio
import httpx

from replaydeck.capture.middleware import (
    ASGIApp,
    Message,
    Receive,
    RecordingMiddleware,
    Scope,
    Send,
    is_event_stream,
)
from replaydeck.capture.runs import DEFAULT_SESSION_IDLE
from replaydeck.capture.sdk import Recorder

log = logging.getLogger("replaydeck.capture")

# RFC 9110 §7.6.1: these describe one connection and must not be forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


# How uvicorn must run the proxy. `proxy_headers` off: the proxy appends its peer to
# X-Forwarded-For itself, and uvicorn's rewrite of the peer from that header would
# list one hop twice. `server_header`/`date_header` off: the upstream's own `server`
# and `date` pass through, and uvicorn's would make each appear twice.
UVICORN_OPTIONS: dict[str, Any] = {
    "proxy_headers": False,
    "server_header": False,
    "date_header": False,
}


def upstream_client() -> httpx.AsyncClient:
    # No read timeout: an SSE stream may idle for minutes between events.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=10.0, read=None, write=None, pool=None),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
        follow_redirects=False,
        trust_env=False,
    )


def forwarded_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    dropped = HOP_BY_HOP | {b"host", b"x-forwarded-for"}
    headers = [(key, value) for key, value in scope["headers"] if key.lower() not in dropped]
    client, host = scope.get("client"), dict(scope["headers"]).get(b"host")
    # Append this hop to the chain the client may already carry, as proxies do.
    chain = [value for key, value in scope["headers"] if key.lower() == b"x-forwarded-for"]
    if client:
        chain.append(str(client[0]).encode())
    if chain:
        headers.append((b"x-forwarded-for", b", ".join(chain)))
    if host:
        headers.append((b"x-forwarded-host", host))
    headers.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode()))
    return headers


class Forwarder:
    """A pure ASGI app that relays each HTTP request to `upstream`."""

    def __init__(self, upstream: str, client: httpx.AsyncClient) -> None:
        self.upstream = upstream.rstrip("/")
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("raw_path") or scope["path"].encode()
        url = self.upstream + path.decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = forwarded_headers(scope)
        # Asked of the client's headers: transfer-encoding is hop-by-hop and not among the
        # forwarded ones, so a chunked body (no content-length) was not sent on at all.
        has_body = any(
            k.lower() in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"]
        )
        # Built directly, not with client.build_request: that would add httpx's default
        # headers (Accept-Encoding among them), and the upstream would then compress for
        # a client that never asked.
        request = httpx.Request(
            scope["method"],
            url,
            headers=headers,
            content=request_body(receive) if has_body else None,
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as e:
            await bad_gateway(send, f"The upstream {self.upstream} did not answer: {e}.")
            return
        try:
            await self.relay(response, receive, send)
        finally:
            # Shielded: closing a half-read response is what tells the upstream the
            # client has gone, so it must run even when the relay was cancelled.
            with anyio.CancelScope(shield=True):
                await response.aclose()

    async def relay(self, response: httpx.Response, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
        if is_event_stream(headers):
            headers = [(k, v) for k, v in headers if k.lower() != b"x-accel-buffering"]
            headers.append((b"x-accel-buffering", b"no"))
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send_body(response.aiter_raw(), receive, send)


async def send_body(chunks: AsyncIterable[bytes], receive: Receive, send: Send) -> None:
    """Send `chunks` as a response body, stopping at once when the client disconnects."""
    async with anyio.create_task_group() as tg:

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(watch_disconnect)
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        tg.cancel_scope.cancel()


async def request_body(receive: Receive) -> AsyncIterator[bytes]:
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
        if message.get("body"):
            yield message["body"]


async def bad_gateway(send: Send, detail: str) -> None:
    problem = {"type": "about:blank", "title": "Bad gateway", "status": 502, "detail": detail}
    body = json.dumps(problem).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 502,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ProxyApp:
    """The proxy as one ASGI app: the lifespan closes the recorder and the upstream client."""

    def __init__(
        self,
        upstream: str,
        recorder: Recorder,
        *,
        format: str = "auto",
        session_idle: float = DEFAULT_SESSION_IDLE,
        record_wire: bool = False,
    ) -> None:
        self.client = upstream_client()
        self.recorder = recorder
        self.app: ASGIApp = RecordingMiddleware(
            Forwarder(upstream, self.client),
            recorder,
            format=format,
            session_idle=session_idle,
            record_wire=record_wire,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        await self.app(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        message: Message = await receive()
        await send({"type": "lifespan.startup.complete"})
        while message["type"] != "lifespan.shutdown":
            message = await receive()
        await self.recorder.aclose()
        await self.client.aclose()
        await send({"type": "lifespan.shutdown.complete"})
