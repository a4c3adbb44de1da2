"""A Durable Streams stream is a session: listed, readable through /v1, exact bytes."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi import FastAPI

from replaydeck.auth.keys import Scope

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}


async def test_json_messages_are_events_typed_when_they_can_be(client: httpx.AsyncClient) -> None:
    created = await client.put("/ds/v1/stream/chat-1", headers=JSON)
    assert created.status_code == 201
    assert created.headers["location"] == "http://testserver/ds/v1/stream/chat-1"
    messages = [
        {"type": "status", "data": {"label": "thinking"}},
        {"role": "tool", "n": 1.5},
        {"type": "status", "data": {"no_label": True}},
        {"type": "final", "data": {}},
        [1, 2],
    ]
    appended = await client.post("/ds/v1/stream/chat-1", headers=JSON, json=messages)
    assert appended.status_code == 204
    assert appended.headers["stream-next-offset"] == "0000000000000000_0000000000000005"

    read = await client.get("/ds/v1/stream/chat-1", params={"offset": "-1"})
    assert read.json() == messages

    events = (await client.get("/v1/sessions/chat-1/events")).json()["events"]
    assert [e["type"] for e in events] == [
        "status", "ds.message", "ds.message", "ds.message", "ds.message"
    ]  # fmt: skip
    assert events[0]["data"] == {"label": "thinking"}
    assert events[1]["data"] == {"value": {"role": "tool", "n": 1.5}}
    # `final` stays a message: only closing the stream may end it.
    session = (await client.get("/v1/sessions/chat-1")).json()
    assert session["status"] == "open"
    listed = await client.get("/v1/sessions", params={"metadata": "source=durable-streams"})
    assert [s["id"] for s in listed.json()["sessions"]] == ["chat-1"]


async def test_bytes_come_back_exactly(client: httpx.AsyncClient) -> None:
    data = bytes(range(256)) * 3
    headers = {"Content-Type": "application/octet-stream"}
    assert (await client.put("/ds/v1/stream/bin", headers=headers)).status_code == 201
    assert (
        await client.post("/ds/v1/stream/bin", headers=headers, content=data)
    ).status_code == 204
    text = {"Content-Type": "text/plain"}
    assert (await client.put("/ds/v1/stream/txt", headers=text, content=b"h\xc3\xa9 ")).is_success

    assert (await client.get("/ds/v1/stream/bin?offset=-1")).content == data
    assert (await client.get("/ds/v1/stream/txt?offset=-1")).content == "hé ".encode()
    events = (await client.get("/v1/sessions/txt/events")).json()["events"]
    assert [(e["type"], e["data"]) for e in events] == [("ds.bytes", {"text": "hé "})]


async def test_a_name_that_is_no_session_id_gets_a_digest(client: httpx.AsyncClient) -> None:
    name = "tenant/a/chat 1 é"
    created = await client.put(f"/ds/v1/stream/{name}", headers=JSON, content=b'{"a": 1}')
    assert created.status_code == 201
    assert created.headers["location"].endswith("/ds/v1/stream/tenant/a/chat%201%20%C3%A9")
    control = await client.put("/ds/v1/stream/a%02b", headers=JSON)
    assert control.status_code == 422
    session_id = "ds-" + hashlib.sha256(name.encode()).hexdigest()[:60]
    session = await client.get(f"/v1/sessions/{session_id}")
    assert session.status_code == 200
    assert session.json()["metadata"]["stream"] == name


async def test_a_plain_session_is_not_taken_over(client: httpx.AsyncClient) -> None:
    await client.post("/v1/sessions", json={"id": "plain"})
    taken = await client.put("/ds/v1/stream/plain", headers=JSON)
    assert taken.status_code == 409
    assert taken.headers["content-type"] == "application/problem+json"
    assert "plain" in taken.json()["detail"]


async def test_bad_input_is_a_4xx_with_a_sentence(client: httpx.AsyncClient) -> None:
    await client.put("/ds/v1/stream/s", headers=JSON)
    for response in [
        await client.get("/ds/v1/stream/s", params={"offset": "../../etc"}),
        await client.post("/ds/v1/stream/s", headers=JSON, content=b"{not json"),
        await client.post("/ds/v1/stream/s", headers=JSON, content=b"[NaN]"),
        await client.put("/ds/v1/stream/t", headers={"Stream-TTL": "1e3"}),
        await client.post("/ds/v1/stream/s", headers={**JSON, "Producer-Id": "p"}, json=[1]),
    ]:
        assert response.status_code == 400, response.text
        assert response.json()["detail"].endswith(".")
    missing = await client.get("/ds/v1/stream/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["x-content-type-options"] == "nosniff"


async def test_keys_guard_the_streams(app: FastAPI, client: httpx.AsyncClient) -> None:
    read_key = (await app.state.keys.create(Scope.READ, "reader")).secret
    ingest_key = (await app.state.keys.create(Scope.INGEST, "writer")).secret

    assert (await client.put("/ds/v1/stream/k", headers=JSON)).status_code == 401
    as_reader = {**JSON, "Authorization": f"Bearer {read_key}"}
    assert (await client.put("/ds/v1/stream/k", headers=as_reader)).status_code == 403
    as_writer = {**JSON, "Authorization": f"Bearer {ingest_key}"}
    assert (await client.put("/ds/v1/stream/k", headers=as_writer)).status_code == 201
    assert (await client.get("/ds/v1/stream/k", headers=as_reader)).status_code == 200
    assert (await client.delete("/ds/v1/stream/k", headers=as_writer)).status_code == 403


async def test_a_session_moved_through_v1_is_followed(client: httpx.AsyncClient) -> None:
    await client.put("/ds/v1/stream/shared", headers=JSON, json=[{"a": 1}])
    status = {"type": "status", "data": {"label": "from /v1"}}
    assert (await client.post("/v1/sessions/shared/events", json=status)).status_code == 200
    appended = await client.post("/ds/v1/stream/shared", headers=JSON, json={"b": 2})
    assert appended.headers["stream-next-offset"] == "0000000000000000_0000000000000003"
    read = await client.get("/ds/v1/stream/shared", params={"offset": "-1"})
    assert read.json() == [{"a": 1}, status, {"b": 2}]

    assert (await client.delete("/v1/sessions/shared")).status_code == 204
    gone = await client.post("/ds/v1/stream/shared", headers=JSON, json={"c": 3})
    assert gone.status_code == 404
    assert (await client.get("/v1/sessions/shared")).status_code == 404
