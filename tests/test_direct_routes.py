"""The routes served in front of the middleware stack answer as FastAPI would.

Every request below goes to the same running app twice: once as served (the
stream and append routes by app/replaydeck/web/direct_routes.py) and once forced through
FastAPI's full stack, and the two answers must be identical, errors and all.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.routing import APIRouter
from starlette.types import Receive, Scope, Send

from replaydeck.auth.keys import Scope as KeyScope
from replaydeck.web.app import direct_routes
from replaydeck.web.direct_routes import DirectRoutes
from replaydeck.web.logs import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.anyio


class Both:
    """Clients for the app as served, and for the same app through FastAPI only."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.served = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        self.framework = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.fastapi_only), base_url="http://testserver"
        )

    async def fastapi_only(self, scope: Scope, receive: Receive, send: Send) -> None:
        stack = self.app.middleware_stack or self.app.build_middleware_stack()
        while not isinstance(stack, DirectRoutes):  # app/replaydeck/web/edge.py is in front
            stack = stack.app  # type: ignore[attr-defined]
        scope["app"] = self.app
        await stack.fallback(scope, receive, send)

    async def compare(
        self, url: str, *, method: str = "GET", body: bytes = b"", **headers: str
    ) -> httpx.Response:
        direct = await self.served.request(method, url, content=body, headers=headers)
        full = await self.framework.request(method, url, content=body, headers=headers)
        assert direct.status_code == full.status_code, (url, direct.text, full.text)
        assert direct.content == full.content, url
        assert without_id(direct.headers) == without_id(full.headers), url
        assert direct.headers["x-request-id"]
        return direct


def without_id(headers: httpx.Headers) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in headers.multi_items() if k != "x-request-id")


@pytest.fixture
async def both(app: FastAPI) -> AsyncIterator[Both]:
    async with app.router.lifespan_context(app):
        pair = Both(app)
        async with pair.served, pair.framework:
            yield pair


async def ended_session_and_share(both: Both) -> str:
    """Session s1, complete, and a share token for it."""
    appended = await both.served.post(
        "/v1/sessions/s1/events",
        json=[{"type": "status", "data": {"label": "a"}}, {"type": "final", "data": {}}],
    )
    assert appended.status_code == 200, appended.text
    shared = await both.served.post("/v1/sessions/s1/shares", json={"expires_in": 3600})
    token: str = shared.json()["url"].rsplit("/", 1)[1]
    return token


# Every request ends before streaming: an error, or 204 for a session that has
# ended with nothing after Last-Event-ID.
REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/v1/sessions/s1/stream", {"Last-Event-ID": "999"}),
    ("/v1/sessions/s1/stream?after=-1", {}),
    ("/v1/sessions/s1/stream?after=abc", {}),
    ("/v1/sessions/s1/stream?after=99999999999999999999", {}),
    ("/v1/sessions/s1/stream?after=x", {"Last-Event-ID": "y"}),
    ("/v1/sessions/s1/stream", {"Last-Event-ID": "7.5"}),
    ("/v1/sessions/nope/stream", {}),
    ("/v1/sessions/s1/replay", {"Last-Event-ID": "999"}),
    ("/v1/sessions/s1/replay?speed=0", {}),
    ("/v1/sessions/s1/replay?speed=fast", {}),
    ("/v1/sessions/s1/replay?from=0", {}),
    ("/v1/sessions/s1/replay?from=5&to=2", {}),
    ("/v1/sessions/s1/replay?types=,", {}),
    ("/v1/sessions/s1/replay?max_gap_ms=-1", {}),
    ("/v1/sessions/s1/replay?format=morse", {}),
    ("/v1/sessions/nope/replay", {}),
    ("/r/{token}/stream", {"Last-Event-ID": "999"}),
    ("/r/{token}/stream?after=-1", {}),
    ("/r/{token}/replay?speed=0", {}),
    ("/r/{token}/replay", {"Last-Event-ID": "2"}),
    ("/r/not-a-token/stream", {}),
    ("/r/not-a-token/replay?speed=0", {}),
]


async def test_errors_and_204s_are_the_same_as_through_fastapi(both: Both) -> None:
    token = await ended_session_and_share(both)
    for url, headers in REQUESTS:
        await both.compare(url.replace("{token}", token), **headers)


# Refused appends: nothing is stored, so both paths see the same state.
APPENDS: list[tuple[bytes, dict[str, str]]] = [
    (b"", {"Content-Type": "application/json"}),
    (b"{not json", {"Content-Type": "application/json"}),
    (b"[]", {"Content-Type": "application/json"}),
    (b'{"type": "status"}', {"Content-Type": "text/plain"}),
    (b'{"type": "status", "data": {}}', {"Content-Type": "application/json"}),
    (b'{"type": "nope"}', {"Content-Type": "application/json"}),
    (b'{"type": "status", "data": {"label": "x"}}', {"If-Match": "abc"}),
    (b'{"type": "status", "data": {"label": "x"}}', {"If-Match": "5"}),
    (b'{"type": "status", "data": {"label": "x"}}', {"Content-Length": "99999999999"}),
    (b'{"type": "x"}\n{', {"Content-Type": "application/x-ndjson"}),
]


async def test_refused_appends_are_the_same_as_through_fastapi(both: Both) -> None:
    await ended_session_and_share(both)  # s1 is complete: appends to it are refused
    for path in ("/v1/sessions/s2/events", "/v1/sessions/s1/events", "/v1/sessions/a%20b/events"):
        for body, headers in APPENDS:
            await both.compare(path, method="POST", body=body, **headers)


async def test_key_checks_are_the_same_as_through_fastapi(both: Both) -> None:
    token = await ended_session_and_share(both)
    ingest = await both.app.state.keys.create(KeyScope.INGEST, "direct ingest")
    read = await both.app.state.keys.create(KeyScope.READ, "direct read")
    for path in ("/v1/sessions/s1/stream", "/v1/sessions/s1/replay"):
        missing = await both.compare(path, **{"Last-Event-ID": "999"})
        assert missing.status_code == 401
        wrong = await both.compare(
            path, **{"Last-Event-ID": "999", "Authorization": f"Bearer {ingest.secret}"}
        )
        assert wrong.status_code == 403
        # The key check comes before the parameters, as in FastAPI.
        assert (await both.compare(f"{path}?after=-1&from=0")).status_code == 401
        right = await both.compare(
            path, **{"Last-Event-ID": "999", "Authorization": f"Bearer {read.secret}"}
        )
        assert right.status_code == 204
    event = b'{"type": "status", "data": {"label": "x"}}'
    assert (
        await both.compare("/v1/sessions/s9/events", method="POST", body=event)
    ).status_code == 401
    refused = await both.compare(
        "/v1/sessions/s9/events",
        method="POST",
        body=event,
        Authorization=f"Bearer {read.secret}",
    )
    assert refused.status_code == 403
    # Share links need no key.
    assert (await both.compare(f"/r/{token}/stream", **{"Last-Event-ID": "999"})).status_code == 204


async def test_the_request_id_is_echoed_and_the_access_line_written(both: Both) -> None:
    await ended_session_and_share(both)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger("replaydeck.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        response = await both.served.get(
            "/v1/sessions/s1/stream?after=5", headers={"X-Request-ID": "tail-1"}
        )
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert response.status_code == 204
    assert response.headers["x-request-id"] == "tail-1"
    entries = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["request_id"], e["status"], e["message"]) for e in entries] == [
        ("tail-1", 204, "GET /v1/sessions/s1/stream?after=5 204")
    ]


async def test_only_the_direct_routes_and_their_methods_are_served_directly(
    app: FastAPI,
) -> None:
    reached: list[tuple[str, str]] = []

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append((scope["method"], scope["path"]))

    direct = DirectRoutes(
        direct_routes(),
        fallback,
        app_dependencies=app.router.dependencies,
        handlers=app.exception_handlers,
    )
    assert sorted(r.route.path for r in direct.routes) == [
        "/r/{token}/replay",
        "/r/{token}/stream",
        "/v1/sessions/{session_id}/events",
        "/v1/sessions/{session_id}/replay",
        "/v1/sessions/{session_id}/stream",
    ]
    passed = [
        ("POST", "/v1/sessions/s1/replay"),
        ("GET", "/v1/sessions/s1/events"),
        ("PUT", "/v1/sessions/s1/events"),
        ("GET", "/v1/sessions/s1/stream/more"),
        ("GET", "/r/t/events"),
        # HEAD goes on as the GET it asks about (the log is read through FastAPI).
        ("HEAD", "/v1/sessions/s1/events"),
    ]
    for method, path in passed:
        scope: dict[str, Any] = {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": "",
            "headers": [],
            "query_string": b"",
        }
        await direct(scope, receive_nothing, send_nothing)
    assert reached == [*passed[:-1], ("GET", "/v1/sessions/s1/events")]


async def test_the_direct_routes_stay_in_the_api_description(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for route in direct_routes():
        for method in route.methods:
            assert method.lower() in paths[route.path], (method, route.path)


def test_a_dependency_that_needs_more_than_the_request_is_refused(app: FastAPI) -> None:
    async def needs_a_query(limit: int = Query(1)) -> int:
        return limit

    router = APIRouter()

    @router.get("/things/{thing}/stream")
    async def stream(thing: str, limit: int = Depends(needs_a_query)) -> None:
        return None

    with pytest.raises(TypeError, match="needs more than the request"):
        DirectRoutes(
            router.routes,  # type: ignore[arg-type]
            send_nothing,
            app_dependencies=(),
            handlers=app.exception_handlers,
        )


async def receive_nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def send_nothing(*args: Any) -> None:
    return None
