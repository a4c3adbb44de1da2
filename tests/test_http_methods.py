"""HEAD on every GET route, and a 405's Allow naming every method of its path, on a real server.

HEAD was a 405 everywhere though the key check counts it as a read; and a 405
named only the methods of the first route on its path (`Allow: GET` on
/v1/sessions/{id}, which DELETE also serves).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import h11
import httpx
import orjson
import pytest
from fastapi import FastAPI

from replaydeck.web.logs import JsonFormatter
from replaydeck.web.viewer import asset_url
from tests.servers import RunningServer, serve
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

# Headers that differ between any two responses, and the framing of a body that
# a HEAD response does not have (uvicorn leaves chunked encoding out of it).
PER_RESPONSE = {"date", "x-request-id", "transfer-encoding"}


@dataclass
class Served:
    server: RunningServer
    token: str

    @property
    def app(self) -> FastAPI:
        return self.server.app


@pytest.fixture
def served(app: FastAPI) -> Iterator[Served]:
    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        client.post(
            "/v1/sessions/done/events",
            json=[{"type": "status", "data": {"label": "x"}}, {"type": "final", "data": {}}],
        ).raise_for_status()
        client.post("/v1/sessions", json={"id": "open"}).raise_for_status()
        client.post("/v1/sessions/open/events", json={"type": "status", "data": {"label": "x"}})
        url = client.post("/v1/sessions/done/shares", json={}).json()["url"]
        yield Served(server, url.rsplit("/r/", 1)[1])


async def exchange(port: int, requests: list[h11.Request]) -> list[tuple[h11.Response, bytes]]:
    """Send the requests one after another on one connection; each response and its body.

    h11 knows that a response to HEAD has no body: a byte of one would be read
    as the start of the next response, and fail.
    """
    http = h11.Connection(h11.CLIENT)
    answers: list[tuple[h11.Response, bytes]] = []
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        for request in requests:
            await stream.send(http.send(request) + http.send(h11.EndOfMessage()))
            head: h11.Response | None = None
            body = b""
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    http.receive_data(await stream.receive())
                elif isinstance(event, h11.Response):
                    head = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            assert head is not None
            answers.append((head, body))
            http.start_next_cycle()
    return answers


def request(method: str, target: str) -> h11.Request:
    return h11.Request(method=method, target=target, headers=[("Host", "localhost")])


def headers_of(response: h11.Response) -> dict[str, str]:
    return {
        name.decode(): value.decode()
        for name, value in response.headers
        if name.decode() not in PER_RESPONSE
    }


def get_paths(served: Served) -> list[str]:
    """Every GET route of the API description, for the ended session, and the pages."""
    document = httpx.get(f"{served.server.url}/openapi.json").json()
    paths = [
        path.replace("{session_id}", "done").replace("{token}", served.token)
        for path, item in document["paths"].items()
        if "get" in item
    ]
    assert len(paths) >= 14, paths
    return [
        *paths,
        "/v1/sessions/nope",  # a 404 problem
        "/v1/sessions/done/events?after=x",  # a 422 problem
        "/v1/sessions/done/stream?after=2",  # 204: nothing follows
        "/r/not-a-token",  # the share page's 404 page
        "/openapi.json",
        "/docs",
        asset_url("viewer.js"),
    ]


async def test_head_answers_every_get_route_as_get_does_without_a_body(served: Served) -> None:
    for path in get_paths(served):
        (got, body), (head, head_body), (after, _) = await exchange(
            served.server.port,
            [request("GET", path), request("HEAD", path), request("GET", "/healthz")],
        )
        assert head.status_code == got.status_code, path
        assert headers_of(head) == headers_of(got), path
        assert head_body == b"", path
        assert after.status_code == 200, path
        assert body or got.status_code == 204, path


async def test_head_on_a_stream_answers_at_once_and_opens_no_stream(served: Served) -> None:
    access = logging.getLogger("replaydeck.access")
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    paths = [
        "/v1/sessions/open/stream",
        "/v1/sessions/open/replay?speed=1",
        f"/r/{served.token}/stream",
        f"/r/{served.token}/replay",
    ]

    def heads_logged() -> list[dict[str, object]]:
        # A request's access line is written once its response has ended, which
        # may be after the client has it: a fixture's POST may land here late,
        # and the last HEAD's line after its answer.
        logged = [orjson.loads(line) for line in lines.getvalue().splitlines()]
        return [e for e in logged if e["method"] != "POST"]

    try:
        with anyio.fail_after(10):
            answers = await exchange(served.server.port, [request("HEAD", p) for p in paths])
        await eventually(lambda: len(heads_logged()) >= len(paths), within=10)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    for path, (head, body) in zip(paths, answers, strict=True):
        assert head.status_code == 200, path
        assert headers_of(head)["content-type"] == "text/event-stream; charset=utf-8", path
        assert headers_of(head)["x-accel-buffering"] == "no", path
        assert body == b"", path
    # Nothing was ever subscribed, read or counted as a stream.
    assert served.app.state.streams.total() == 0
    assert served.app.state.hub.subscriber_count == 0
    assert [(e["method"], e["status"]) for e in heads_logged()] == [("HEAD", 200)] * len(paths)


def test_head_refused_where_there_is_no_get(served: Served) -> None:
    response = httpx.head(f"{served.server.url}/v1/sessions/done/shares")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


ALLOW = {
    "/v1/sessions": "GET, HEAD, POST",
    "/v1/sessions/done": "DELETE, GET, HEAD",
    "/v1/sessions/done/events": "GET, HEAD, POST",
    "/v1/sessions/done/stream": "GET, HEAD",
    "/v1/sessions/done/replay": "GET, HEAD",
    "/v1/sessions/done/trace": "GET, HEAD",
    "/v1/sessions/done/shares": "POST",
    "/v1/shares/some-share": "DELETE",
    "/r/some-token": "GET, HEAD",
    "/r/some-token/replay": "GET, HEAD",
    "/healthz": "GET, HEAD",
    "/sessions/done": "GET, HEAD",
}


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "PATCH", "TRACE"])
def test_405_allow_names_every_method_of_the_path(served: Served, method: str) -> None:
    with httpx.Client(base_url=served.server.url) as client:
        for path, allowed in ALLOW.items():
            response = client.request(method, path)
            assert response.status_code == 405, (path, response.text)
            assert response.headers["allow"] == allowed, path
            assert response.headers["content-type"] == "application/problem+json"
            assert f"accepts {allowed}" in response.json()["detail"], path


def test_allow_matches_the_api_description(served: Served) -> None:
    document = httpx.get(f"{served.server.url}/openapi.json").json()
    with httpx.Client(base_url=served.server.url) as client:
        for template, item in document["paths"].items():
            path = template.replace("{session_id}", "done").replace("{token}", "t")
            path = path.replace("{share_id}", "s")
            documented = {method.upper() for method in item}
            allowed = set(client.options(path).headers["allow"].split(", "))
            assert allowed - {"HEAD"} == documented, template
