"""Hostile and careless input through a real server, on SQLite and PostgreSQL alike.

Every refusal is a 4xx problem+json with the same status on both backends; no
bad input reaches a driver as a 500, or is mistaken for an outage (503).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import pytest

from replaydeck.config import Settings
from replaydeck.main import create_app
from replaydeck.problems import problem
from tests.servers import serve
from tests.store.pg import pg_template, pg_url

__all__ = ["pg_template", "pg_url"]

PROBLEM = "application/problem+json"
RFC_9457 = ("type", "title", "status", "detail", "instance")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hostile.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def api(database_url: str) -> Iterator[httpx.Client]:
    with (
        serve(create_app(Settings(database_url=database_url))) as running,
        httpx.Client(base_url=running.url, timeout=10) as client,
    ):
        yield client


def refused(response: httpx.Response, status: int, needle: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, object] = response.json()
    assert problem["status"] == status
    assert needle in str(problem["detail"]), problem["detail"]
    return problem


def test_an_invalid_standard_event_keeps_the_problem_members(api: httpx.Client) -> None:
    answer = api.post("/v1/sessions/s/events", json={"type": "tool.call", "data": {}})
    problem = refused(answer, 422, "data.name")
    assert problem["type"] == "urn:replaydeck:problem:invalid-event"
    assert problem["title"] == "An event is not valid"
    assert problem["instance"] == "/v1/sessions/s/events"
    assert problem["event_type"] == "tool.call"


def test_extra_fields_never_replace_the_rfc_9457_members() -> None:
    clashing = {"type": "t", "title": "x", "status": 200, "detail": "y", "instance": "/r/s"}
    response = problem(
        409, "seq-conflict", "The session moved on", "Read and retry.", "/v1/x",
        extra={**clashing, "headers": "h", "slug": "s", "last_seq": 3},
    )  # fmt: skip
    body = orjson.loads(response.body)
    assert [body[name] for name in RFC_9457] == [
        "urn:replaydeck:problem:seq-conflict",
        "The session moved on",
        409,
        "Read and retry.",
        "/v1/x",
    ]
    assert (body["last_seq"], body["headers"], body["slug"]) == (3, "h", "s")


BAD_SESSION_IDS = ["abc\n", "abc\r\n", "\nabc", "a\x00b", "abc ", "-abc", "a" * 129, "ab/c"]


@pytest.mark.parametrize("session_id", BAD_SESSION_IDS, ids=repr)
def test_a_session_id_must_match_whole(api: httpx.Client, session_id: str) -> None:
    assert api.post("/v1/sessions", json={"id": "abc"}).status_code == 201
    created = api.post("/v1/sessions", json={"id": session_id})
    refused(created, 422, "not a valid session id")
    path = "/v1/sessions/" + quote(session_id, safe="")
    status = {"type": "status", "data": {"label": "x"}}
    for method, suffix, body in [
        ("POST", "/events", status),
        ("GET", "", None),
        ("DELETE", "", None),
        ("GET", "/events", None),
        ("GET", "/stream", None),
        ("GET", "/replay?speed=max", None),
        ("GET", "/trace", None),
        ("POST", "/shares", {}),
    ]:
        answer = api.request(method, path + suffix, json=body)
        if session_id == "ab/c":  # no route has a slash in its session id
            assert answer.status_code == 404, (method, suffix, answer.text)
            continue
        refused(answer, 422, "not a valid session id")
    # Nothing was created beside the one good session.
    listed = api.get("/v1/sessions").json()["sessions"]
    assert [s["id"] for s in listed] == ["abc"]


@pytest.mark.parametrize("event_type", ["retrieval.hit\n", "retrieval.hit\r", "status\n"])
def test_an_event_type_must_match_whole(api: httpx.Client, event_type: str) -> None:
    answer = api.post("/v1/sessions/s/events", json={"type": event_type, "data": {"label": "x"}})
    refused(answer, 422, "type")
    assert api.get("/v1/sessions/s").status_code == 404
