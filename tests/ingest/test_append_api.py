"""The ingest API: shapes of body, idempotency, limits, and every refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


async def test_one_event_array_and_ndjson(client: httpx.AsyncClient) -> None:
    one = await client.post(
        "/v1/sessions/s/events", json={"type": "status", "data": {"label": "a"}}
    )
    assert one.json() == {"seqs": [1], "last_seq": 1}
    many = await client.post(
        "/v1/sessions/s/events",
        json=[{"type": "status", "data": {"label": "b"}}, {"type": "custom.thing"}],
    )
    assert many.json() == {"seqs": [2, 3], "last_seq": 3}
    lines = await client.post(
        "/v1/sessions/s/events",
        content=ndjson([{"type": "status", "data": {"label": "c"}}, {"type": "final"}]),
        headers={"content-type": "application/x-ndjson"},
    )
    assert lines.json() == {"seqs": [4, 5], "last_seq": 5}


async def test_a_thousand_events_streamed_as_ndjson_append_in_order(
    client: httpx.AsyncClient,
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for index in range(1000):
            yield (
                orjson.dumps(
                    {"type": "message.delta", "id": f"d{index}", "data": {"text": f"{index} "}}
                )
                + b"\n"
            )

    response = await client.post(
        "/v1/sessions/s/events", content=body(), headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["seqs"] == list(range(1, 1001))
    page = (await client.get("/v1/sessions/s/events?limit=1000")).json()
    assert [e["id"] for e in page["events"]] == [f"d{i}" for i in range(1000)]
    assert page["next_after"] == 1000


async def test_repeated_ids_are_no_ops(client: httpx.AsyncClient) -> None:
    event = {"type": "status", "data": {"label": "a"}, "id": "once"}
    first = await client.post("/v1/sessions/s/events", json=event)
    again = await client.post("/v1/sessions/s/events", json=[event, {**event, "id": "twice"}])
    assert first.json()["seqs"] == [1]
    assert again.json() == {"seqs": [1, 2], "last_seq": 2}


async def test_append_after_final_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/v1/sessions/s/events", json={"type": "final", "data": {"usage": {}}})
    response = await client.post(
        "/v1/sessions/s/events", json={"type": "status", "data": {"label": "late"}}
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:replaydeck:problem:session-closed"
    assert "final" in body["detail"]
    assert body["final_seq"] == 1


async def test_if_match_guards_the_append(client: httpx.AsyncClient) -> None:
    event = {"type": "status", "data": {"label": "a"}}
    assert (await client.post("/v1/sessions/s/events", json=event)).status_code == 200
    ok = await client.post("/v1/sessions/s/events", json=event, headers={"If-Match": "1"})
    assert ok.json()["seqs"] == [2]
    stale = await client.post("/v1/sessions/s/events", json=event, headers={"If-Match": "1"})
    assert stale.status_code == 409
    assert stale.json()["last_seq"] == 2


BAD_BODIES: list[tuple[str, bytes, str, int, str]] = [
    ("not json", b"{nope", "application/json", 400, "not valid JSON"),
    ("empty body", b"", "application/json", 400, "empty"),
    ("empty array", b"[]", "application/json", 422, "empty array"),
    ("a number", b"42", "application/json", 422, "JSON int"),
    ("array of strings", b'["x"]', "application/json", 422, "Event 0 is a JSON str"),
    ("no type", b'{"data": {}}', "application/json", 422, "no 'type'"),
    ("unknown type", b'{"type": "Weird Type"}', "application/json", 422, "dotted lower-case"),
    ("reserved prefix", b'{"type": "replay.end"}', "application/json", 422, "reserved"),
    ("stream prefix", b'{"type": "stream.x"}', "application/json", 422, "reserved"),
    (
        "data not object",
        b'{"type": "status", "data": []}',
        "application/json",
        422,
        "must be a JSON object",
    ),
    ("missing label", b'{"type": "status", "data": {}}', "application/json", 422, "data.label"),
    (
        "text not str",
        b'{"type": "message.delta", "data": {"text": 5}}',
        "application/json",
        422,
        "data.text",
    ),
    (
        "args not object",
        b'{"type": "tool.call", "data": {"name": "t", "args": "x", "call_id": "c"}}',
        "application/json",
        422,
        "data.args",
    ),
    (
        "is_error not bool",
        b'{"type": "tool.result", "data": {"name": "t", "call_id": "c", "result": 1, '
        b'"is_error": "yes"}}',
        "application/json",
        422,
        "data.is_error",
    ),
    (
        "unknown field",
        b'{"type": "status", "payload": {}}',
        "application/json",
        422,
        "unknown field",
    ),
    ("bad ts", b'{"type": "final", "ts": "yesterday"}', "application/json", 422, "RFC 3339"),
    (
        "naive ts",
        b'{"type": "final", "ts": "2026-11-23T10:00:00"}',
        "application/json",
        422,
        "time zone",
    ),
    ("negative ts", b'{"type": "final", "ts": -5}', "application/json", 422, "plausible"),
    ("bool ts", b'{"type": "final", "ts": true}', "application/json", 422, "'ts' of type bool"),
    ("empty id", b'{"type": "final", "id": ""}', "application/json", 422, "'id'"),
    ("numeric id", b'{"type": "final", "id": 7}', "application/json", 422, "'id'"),
    ("bad ndjson line", b'{"type": "final"}\n{oops\n', "application/x-ndjson", 400, "Line 2"),
    ("empty ndjson", b"\n\n", "application/x-ndjson", 400, "no events"),
    ("xml", b"<event/>", "application/xml", 415, "application/x-ndjson"),
    (
        "infinite number",
        b'{"type": "x.y", "data": {"n": 1e400}}',
        "application/json",
        400,
        "not valid JSON",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "needle"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_bad_bodies_are_refused_with_a_sentence(
    client: httpx.AsyncClient, body: bytes, content_type: str, status: int, needle: str
) -> None:
    response = await client.post(
        "/v1/sessions/s/events", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert needle in problem["detail"], problem["detail"]
    assert problem["detail"].endswith((".", ")")), problem["detail"]
    # Nothing was half-written.
    assert (await client.get("/v1/sessions/s")).status_code == 404


async def test_a_bad_event_in_a_batch_stores_none_of_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/sessions/s/events",
        json=[{"type": "status", "data": {"label": "ok"}}, {"type": "status", "data": {}}],
    )
    assert response.status_code == 422
    assert "Event 1" in response.json()["detail"]
    assert (await client.get("/v1/sessions/s")).status_code == 404


@pytest.mark.parametrize("session_id", ["-leading-dash", "a" * 129, "sp ace", "ünï"])
async def test_bad_session_ids_are_422(client: httpx.AsyncClient, session_id: str) -> None:
    response = await client.post(f"/v1/sessions/{session_id}/events", json={"type": "final"})
    assert response.status_code == 422
    assert "session id" in response.json()["detail"]


async def test_the_users_message_is_a_standard_type(client: httpx.AsyncClient) -> None:
    parts = [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "x"}}]
    stored = await client.post(
        "/v1/sessions/u/events",
        json=[
            {"type": "user.message", "data": {"text": "Hi"}},
            {"type": "user.message", "data": {"text": "Look", "content": parts, "message_id": "m"}},
        ],
    )
    assert stored.json() == {"seqs": [1, 2], "last_seq": 2}
    for data, needle in [
        ({}, "data.text: field required"),
        ({"text": "Hi", "content": "not a list"}, "data.content"),
        ({"text": "Hi", "message_id": 7}, "data.message_id"),
    ]:
        refused = await client.post(
            "/v1/sessions/u/events", json={"type": "user.message", "data": data}
        )
        assert refused.status_code == 422
        assert needle in refused.json()["detail"]
    document = (await client.get("/openapi.json")).json()
    append = document["paths"]["/v1/sessions/{session_id}/events"]["post"]
    event = append["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    [branch] = [b for b in event["oneOf"] if b["properties"]["type"].get("const") == "user.message"]
    payload = branch["properties"]["data"]
    assert branch["required"] == ["type", "data"]
    assert payload["required"] == ["text"]
    assert set(payload["properties"]) == {"text", "content", "message_id"}
    custom = next(b for b in event["oneOf"] if "const" not in b["properties"]["type"])
    assert "user.message" in custom["properties"]["type"]["not"]["anyOf"][0]["enum"]
