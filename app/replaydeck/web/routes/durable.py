"""/ds/v1/stream/{name}: the Durable Streams protocol (replaydeck.durable)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replaydeck.config import Settings
from replaydeck.durable.protocol import STREAM_NAME
from replaydeck.durable.reads import Reader, ReadRequest
from replaydeck.durable.service import Answer, DurableStreams
from replaydeck.sse import HEAD_AS_GET, EventStreamResponse
from replaydeck.web.deps import SettingsDep, StreamClientDep, StreamsDep

PREFIX = "/ds"
router = APIRouter(prefix=PREFIX + "/v1/stream", tags=["durable streams"])


async def _streams(request: Request) -> DurableStreams:
    streams: DurableStreams = request.app.state.durable
    return streams


async def _reader(request: Request) -> Reader:
    reader: Reader = request.app.state.durable_reader
    return reader


DurableDep = Annotated[DurableStreams, Depends(_streams)]
StreamName = Annotated[str, Path(pattern=STREAM_NAME, description="the stream's name")]
ReaderDep = Annotated[Reader, Depends(_reader)]


def _answer(answer: Answer) -> Response:
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


# The answers besides refusals (problem+json, documented for every route).
_CREATED: dict[int | str, dict[str, Any]] = {
    200: {"description": "The stream exists with this configuration already."},
    201: {"description": "Created (or forked); Location names it."},
}
_APPENDED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Appended with producer headers (new data)."},
    204: {"description": "Appended, closed, or a producer's retry already stored."},
}
_DELETED: dict[int | str, dict[str, Any]] = {204: {"description": "Deleted."}}
_READ: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The stream's data from the offset (catch-up, long-poll, or SSE).",
        "content": {"*/*": {}, "text/event-stream": {}},
    },
    204: {"description": "A long-poll that saw no new data before its timeout."},
    304: {"description": "If-None-Match matched: the same data as before."},
}


@router.put("/{name:path}", response_class=Response, responses=_CREATED)
async def create(name: StreamName, request: Request, streams: DurableDep) -> Response:
    body = await request.body()
    # Percent-encoded: a header is ASCII, a stream name need not be.
    location = str(request.base_url).rstrip("/") + quote(request.url.path, safe="/")
    return _answer(await streams.create(name, request.headers, body, location=location))


@router.post("/{name:path}", response_class=Response, responses=_APPENDED)
async def append(name: StreamName, request: Request, streams: DurableDep) -> Response:
    return _answer(await streams.append(name, request.headers, await request.body()))


@router.delete("/{name:path}", response_class=Response, responses=_DELETED)
async def delete(name: StreamName, streams: DurableDep) -> Response:
    return _answer(await streams.delete(name))


@router.get("/{name:path}", response_class=Response, responses=_READ)
async def read(
    name: StreamName,
    request: Request,
    streams: DurableDep,
    reader: ReaderDep,
    settings: SettingsDep,
    counter: StreamsDep,
    client: StreamClientDep,
) -> Response:
    if request.scope.get(HEAD_AS_GET):
        return _answer(await streams.head(name))
    query = request.query_params
    wanted = ReadRequest(
        offset=query.get("offset"),
        live=query.get("live"),
        cursor=query.get("cursor"),
        if_none_match=request.headers.get("if-none-match"),
    )
    if wanted.live != "sse":
        status, headers, body = await reader.read(name, wanted)
        return Response(body, status_code=status, headers=headers)
    headers, after = await reader.sse_headers(name, wanted)
    response = EventStreamResponse(
        reader.sse(name, wanted, after),
        kind="durable",
        counter=counter,
        retry_ms=settings.sse_retry_ms,
        send_timeout=settings.send_timeout,
        lease=client.admit(),
    )
    # The protocol's SSE: exactly `text/event-stream`, and no `retry:` block
    # ahead of the first event (its clients reconnect from the last offset).
    response.preamble = None
    response.raw_headers = [
        (key.lower().encode(), value.encode()) for key, value in headers.items()
    ]
    return response


# What a browser may send and read (CORS), for origins in REPLAYDECK_ALLOWED_ORIGINS.
REQUEST_HEADERS = (
    "Authorization, Content-Type, If-None-Match, Stream-TTL, Stream-Expires-At, Stream-Seq, "
    "Stream-Closed, Stream-Forked-From, Stream-Fork-Offset, Stream-Fork-Sub-Offset, "
    "Producer-Id, Producer-Epoch, Producer-Seq"
)


class SecurityHeaders:
    """Section 12.7's headers on every /ds answer, refusals included; and the
    answer to a CORS preflight (a browser's OPTIONS before a fetch)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await _preflight(scope, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-content-type-options", b"nosniff"),
                    (b"cross-origin-resource-policy", b"cross-origin"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


async def _preflight(scope: Scope, send: Send) -> None:
    """204 with what /ds accepts (Allow, as every path's OPTIONS says). The origin
    is allowed only when configured, so a page elsewhere learns the methods but its
    browser still refuses the call."""
    settings: Settings = scope["app"].state.settings
    origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
    headers = [
        (b"allow", b"DELETE, GET, HEAD, POST, PUT"),
        (b"access-control-allow-methods", b"DELETE, GET, HEAD, POST, PUT"),
        (b"access-control-allow-headers", REQUEST_HEADERS.encode()),
        (b"access-control-max-age", b"600"),
        (b"x-content-type-options", b"nosniff"),
        (b"cross-origin-resource-policy", b"cross-origin"),
    ]
    if origin and origin in settings.allowed_origins:
        headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
