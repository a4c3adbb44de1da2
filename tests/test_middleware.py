"""Every route passes every middleware, the ones a user adds included.

The streams (live tails, replays, their /r/ share twins) and the append are
ordinary FastAPI routes; a stream only runs after the framework's own stack has
returned (app/replaydeck/web/handoff.py), still inside every middleware. These
tests add middleware as a user of the app would, after create_app, and drive
every kind of route through a real uvicorn.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import serve

pytestmark = pytest.mark.anyio

ORIGIN = "http://app.example"


class Recorder:
    """A user's pure ASGI middleware: notes each response and tags it."""

    def __init__(self, app: ASGIApp, seen: list[dict[str, Any]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {"method": scope["method"], "path": scope["path"], "bodies": 0}
        self.seen.append(entry)

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                message = {**message, "headers": [*message["headers"], (b"x-seen", b"1")]}
            elif message.get("body"):
                entry["bodies"] += 1
            await send(message)

        await self.app(scope, receive, tagged)


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def app(settings: Settings, seen: list[dict[str, Any]]) -> FastAPI:
    app = create_app(settings)
    # As a user would add them: after the app is built, in front of everything.
    app.add_middleware(CORSMiddleware, allow_origins=[ORIGIN], expose_headers=["x-seen"])
    app.add_middleware(Recorder, seen=seen)
    return app


async def first_frames(client: httpx.AsyncClient, url: str, count: int) -> httpx.Response:
    """GET an SSE stream, read until `count` frames with data have arrived, then close it."""
    async with client.stream("GET", url, headers={"Origin": ORIGIN}) as response:
        assert response.status_code == 200, await response.aread()
        frames = 0
        async for line in response.aiter_lines():
            frames += line.startswith("data:")
            if frames == count:
                break
        return response


async def test_a_users_middleware_wraps_streams_appends_and_share_twins(
    app: FastAPI, seen: list[dict[str, Any]]
) -> None:
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            events = [{"type": "message.delta", "data": {"text": f"t{i}"}} for i in range(3)]
            # (No Origin: a cross-origin write is refused unless REPLAYDECK_ALLOWED_ORIGINS says.)
            appended = await client.post("/v1/sessions/mw-1/events", json=events)
            assert appended.status_code == 200, appended.text
            share = await client.post("/v1/sessions/mw-1/shares", json={})
            assert share.status_code == 201, share.text
            token_path = httpx.URL(share.json()["url"]).path

            responses = {
                "append": appended,
                "tail": await first_frames(client, "/v1/sessions/mw-1/stream", 3),
                "replay": await first_frames(client, "/v1/sessions/mw-1/replay?speed=max", 3),
                "share tail": await first_frames(client, f"{token_path}/stream", 3),
                "share replay": await first_frames(
                    client, f"{token_path}/replay?speed=max&format=openai-responses", 2
                ),
                "head": await client.head("/v1/sessions/mw-1/stream", headers={"Origin": ORIGIN}),
                "refused": await client.get(
                    "/v1/sessions/mw-1/replay?speed=fast", headers={"Origin": ORIGIN}
                ),
            }
    for name, response in responses.items():
        assert response.headers.get("x-seen") == "1", name
        if name != "append":
            assert response.headers.get("access-control-allow-origin") == ORIGIN, name
        assert response.headers.get("x-request-id"), name
    assert responses["head"].status_code == 200
    assert responses["head"].headers["content-type"].startswith("text/event-stream")
    assert responses["refused"].status_code == 422
    assert responses["refused"].headers["content-type"] == "application/problem+json"
    # The streams' frames passed through the user's middleware, not around it.
    streamed = [e for e in seen if e["path"].endswith(("/stream", "/replay"))]
    assert len(streamed) == 6
    for entry in streamed:
        expected_bodies = 0 if entry["method"] == "HEAD" or entry["status"] == 422 else 2
        assert entry["bodies"] >= expected_bodies, entry


async def test_share_twins_take_the_parameters_of_their_v1_routes(app: FastAPI) -> None:
    paths = app.openapi()["paths"]

    def parameters(path: str) -> list[tuple[str, str]]:
        found = paths[path]["get"].get("parameters", [])
        return sorted((p["in"], p["name"]) for p in found if p["in"] != "path")

    for operation in ("events", "stream", "replay"):
        v1 = parameters(f"/v1/sessions/{{session_id}}/{operation}")
        share = parameters(f"/r/{{token}}/{operation}")
        # The key header is how /v1 authenticates; the token is the share's key.
        assert [p for p in v1 if p[1] != "authorization"] == share, operation
    replay = {name for _, name in parameters("/r/{token}/replay")}
    assert {"speed", "from", "to", "types", "max_gap_ms", "format", "Last-Event-ID"} <= replay


async def test_a_share_replay_takes_the_format_parameter(app: FastAPI) -> None:
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            body = orjson.dumps(
                [{"type": "message.delta", "data": {"text": "hi"}}, {"type": "final", "data": {}}]
            )
            headers = {"Content-Type": "application/json"}
            await client.post("/v1/sessions/fmt-1/events", content=body, headers=headers)
            share = (await client.post("/v1/sessions/fmt-1/shares", json={})).json()
            path = httpx.URL(share["url"]).path
            wrong = await client.get(f"{path}/replay?speed=max&format=nonsense")
            assert wrong.status_code == 422
            assert "format" in wrong.json()["detail"]
            async with client.stream("GET", f"{path}/replay?speed=max&format=vercel-ai") as r:
                text = "".join([chunk async for chunk in r.aiter_text()])
    assert '"type":"text-delta"' in text.replace(" ", "")


async def test_a_function_middleware_sees_a_stream_to_its_end(settings: Settings) -> None:
    """`@app.middleware("http")` (Starlette's BaseHTTPMiddleware) over a live tail."""
    app = create_app(settings)
    ended: list[int] = []

    @app.middleware("http")
    async def tag(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-tagged"] = "yes"
        return response

    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            body = [{"type": "status", "data": {"label": "a"}}, {"type": "final", "data": {}}]
            assert (await client.post("/v1/sessions/fn-1/events", json=body)).status_code == 200
            async with client.stream("GET", "/v1/sessions/fn-1/replay?speed=max") as response:
                text = "".join([chunk async for chunk in response.aiter_text()])
                ended.append(response.status_code)
                assert response.headers["x-tagged"] == "yes"
    assert ended == [200]
    assert "replay.end" in text
