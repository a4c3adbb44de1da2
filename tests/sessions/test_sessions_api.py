"""Sessions: create, list, get, delete, and reading the log."""

from __future__ import annotations

import httpx
import orjson
import pytest

pytestmark = pytest.mark.anyio


async def test_create_returns_201_with_links(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/sessions", json={"id": "chat-1", "metadata": {"u": "al"}})
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == "chat-1"
    assert body["metadata"] == {"u": "al"}
    assert body["status"] == "open"
    assert body["links"]["replay"] == "/v1/sessions/chat-1/replay"
    assert response.headers["location"] == "/v1/sessions/chat-1"
    generated = (await client.post("/v1/sessions", json={})).json()
    assert generated["id"].startswith("s_")


async def test_create_twice_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/v1/sessions", json={"id": "x"})
    response = await client.post("/v1/sessions", json={"id": "x"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"id": "bad id"}, "valid session id"),
        ({"metadata": []}, "metadata"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
async def test_create_refuses_bad_bodies(
    client: httpx.AsyncClient, body: object, needle: str
) -> None:
    response = await client.post("/v1/sessions", json=body)
    assert response.status_code == 422
    assert needle in response.json()["detail"]


async def test_get_shows_counts_and_duration(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/sessions/s/events",
        json=[
            {"type": "status", "data": {"label": "a"}, "ts": "2026-11-23T10:00:00Z"},
            {"type": "final", "ts": "2026-11-23T10:00:02.5Z"},
        ],
    )
    body = (await client.get("/v1/sessions/s")).json()
    assert body["status"] == "complete"
    assert body["event_count"] == 2
    assert body["duration_ms"] == 2500.0
    assert body["first_ts"] == "2026-11-23T10:00:00.000000Z"


async def test_list_is_paginated_and_filtered(client: httpx.AsyncClient) -> None:
    for index in range(5):
        await client.post("/v1/sessions", json={"id": f"s{index}", "metadata": {"n": str(index)}})
    first = (await client.get("/v1/sessions?limit=3")).json()
    assert [s["id"] for s in first["sessions"]] == ["s4", "s3", "s2"]
    second = (await client.get(f"/v1/sessions?limit=3&cursor={first['next_cursor']}")).json()
    assert [s["id"] for s in second["sessions"]] == ["s1", "s0"]
    assert second["next_cursor"] is None
    only = (await client.get("/v1/sessions?metadata=n=3")).json()
    assert [s["id"] for s in only["sessions"]] == ["s3"]
    bad = await client.get("/v1/sessions?cursor=garbage")
    assert bad.status_code == 422
    assert "cursor" in bad.json()["detail"]
    assert (await client.get("/v1/sessions?metadata=novalue")).status_code == 422
    assert (await client.get("/v1/sessions?status=weird")).status_code == 422


async def test_delete_removes_session_and_events(client: httpx.AsyncClient) -> None:
    await client.post("/v1/sessions/s/events", json={"type": "status", "data": {"label": "a"}})
    assert (await client.delete("/v1/sessions/s")).status_code == 204
    assert (await client.get("/v1/sessions/s")).status_code == 404
    assert (await client.get("/v1/sessions/s/events")).status_code == 404
    assert (await client.delete("/v1/sessions/s")).status_code == 404


async def test_events_pages_and_ndjson(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/sessions/s/events",
        json=[{"type": "status", "data": {"label": str(i)}} for i in range(7)],
    )
    page = (await client.get("/v1/sessions/s/events?after=2&limit=3")).json()
    assert [e["seq"] for e in page["events"]] == [3, 4, 5]
    assert page["next_after"] == 5
    last = (await client.get("/v1/sessions/s/events?after=5&limit=3")).json()
    assert [e["seq"] for e in last["events"]] == [6, 7]
    assert last["next_after"] is None
    response = await client.get(
        "/v1/sessions/s/events?after=1", headers={"accept": "application/x-ndjson"}
    )
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert [e["seq"] for e in lines] == [2, 3, 4, 5, 6, 7]
    assert lines[0]["data"] == {"label": "1"}


async def test_health_and_unknown_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    missing = await client.get("/v2/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = await client.put("/v1/sessions")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


async def test_list_and_get_count_each_sessions_errors(client: httpx.AsyncClient) -> None:
    failed = {"type": "error", "data": {"message": "The tool failed."}}
    await client.post(
        "/v1/sessions/bad/events", json=[failed, {"type": "status", "data": {"label": "a"}}, failed]
    )
    await client.post("/v1/sessions/good/events", json=[{"type": "final"}])
    listed = (await client.get("/v1/sessions")).json()["sessions"]
    assert {s["id"]: s["error_count"] for s in listed} == {"bad": 2, "good": 0}
    assert (await client.get("/v1/sessions/bad")).json()["error_count"] == 2
