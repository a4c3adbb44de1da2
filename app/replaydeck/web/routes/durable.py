"""/ds/v1/stream/{name}: the Durable Streams protocol (replaydeck.durable)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
ReaderDep = Annotated[Reader, Depends(_reader)]


def _answer(answer: Answer) -> Response:
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


@router.put("/{name:path}", response_class=Response)
async def create(name: str, request: Request, streams: DurableDep) -> Response:
    return _answer(await streams.create(name, request.headers, await request.body()))


@router.post("/{name:path}", response_class=Response)
async def append(name: str, request: Request, streams: DurableDep) -> Response:
    return _answer(await streams.append(name, request.headers, await request.body()))


@router.delete("/{name:path}", response_class=Response)
async def delete(name: str, streams: DurableDep) -> Response:
    return _answer(await streams.delete(name))


@router.get("/{name:path}", response_class=Response)
async def read(
    name: str,
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
    for key, value in headers.items():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


class SecurityHeaders:
    """Section 12.7's headers on every /ds answer, refusals included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
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
