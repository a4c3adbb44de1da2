"""Hostile and careless input through a real server, on SQLite and PostgreSQL alike.

Every refusal is a 4xx problem+json with the same status on both backends; no
bad input reaches a driver as a 500, or is mistaken for an outage (503).
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
import orjson
import pytest
from sqlalchemy.engine import make_url

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from replaydeck.web.problems import problem
from tests.servers import serve
from tests.store.pg import pg_template, pg_url, run_sync

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


STATUS = {"type": "status", "data": {"label": "x"}}


def raw_json(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"id": "m", "metadata": {"user": "al\x00ice"}}, "NUL"),
        ({"id": "m", "metadata": {"us\x00er": "alice"}}, "NUL"),
        ({"id": "m", "metadata": {"deep": [{"x": ["\x00"]}]}}, "metadata['deep'][0]['x'][0]"),
    ],
)
def test_metadata_no_backend_can_store_is_refused(
    api: httpx.Client, body: dict[str, object], needle: str
) -> None:
    refused(api.post("/v1/sessions", json=body), 422, needle)
    assert api.get("/v1/sessions/m").status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"id": "m", "metadata": {"k": "\\ud800"}}', "lone surrogate"),
        (b'{"id": "m", "metadata": {"\\udfff": 1}}', "lone surrogate"),
        # Python's json reads these as floats that would be stored as null.
        (b'{"id": "m", "metadata": {"n": NaN}}', "nan"),
        (b'{"id": "m", "metadata": {"n": 1e400}}', "inf"),
    ],
)
def test_metadata_json_cannot_carry_is_refused(api: httpx.Client, body: bytes, needle: str) -> None:
    refused(raw_json(api, "/v1/sessions", body), 422, needle)
    assert api.get("/v1/sessions/m").status_code == 404


def test_metadata_over_the_limit_is_413(api: httpx.Client) -> None:
    answer = api.post("/v1/sessions", json={"id": "m", "metadata": {"k": "x" * 70_000}})
    refused(answer, 413, "REPLAYDECK_MAX_METADATA_BYTES")
    kept = api.post("/v1/sessions", json={"id": "m", "metadata": {"k": "x" * 60_000}})
    assert kept.status_code == 201


def test_an_event_id_with_a_nul_is_refused(api: httpx.Client) -> None:
    batch = [STATUS, {**STATUS, "id": "a\x00b"}]
    refused(api.post("/v1/sessions/s/events", json=batch), 422, "Event 1 has an 'id'")
    assert api.get("/v1/sessions/s").status_code == 404


def test_event_data_keeps_any_text_nul_included(api: httpx.Client) -> None:
    # Envelopes are stored as bytes (bytea on PostgreSQL), so data may hold any string.
    data = {"label": "a\x00b", "k\x00": ["\x00"]}
    assert api.post("/v1/sessions/s/events", json={"type": "status", "data": data}).is_success
    (event,) = api.get("/v1/sessions/s/events").json()["events"]
    assert event["data"] == data
    assert api.get("/v1/sessions/s/trace").status_code == 200


@pytest.mark.parametrize(
    ("pair", "needle"),
    [
        ("k\x00=v", "NUL"),
        ("k=v\x00", "NUL"),
    ],
)
def test_a_metadata_filter_no_backend_can_match_is_refused(
    api: httpx.Client, pair: str, needle: str
) -> None:
    # SQLite answered 503 "database unavailable" to the NUL, PostgreSQL 500.
    refused(api.get("/v1/sessions", params={"metadata": pair}), 422, needle)


def test_metadata_filters_on_unusual_keys_match_alike(api: httpx.Client) -> None:
    keys = ["a.b", "$", "a'b", "a[0]", "é", "a b", "*", 'a"b', "a\\b", "a\nb"]
    for n, key in enumerate(keys):
        assert api.post("/v1/sessions", json={"id": f"f{n}", "metadata": {key: "v"}}).is_success
    for n, key in enumerate(keys):
        listed = api.get("/v1/sessions", params={"metadata": f"{key}=v"}).json()["sessions"]
        assert [s["id"] for s in listed] == [f"f{n}"], key


@pytest.mark.parametrize(
    "payload", [[2**63, "a"], [2**64 - 1, "a"], [1, "a\x00"], [1.5, "a"], ["1", "a"]], ids=str
)
def test_a_forged_cursor_is_refused(api: httpx.Client, payload: list[object]) -> None:
    cursor = base64.urlsafe_b64encode(orjson.dumps(payload)).decode()
    refused(api.get("/v1/sessions", params={"cursor": cursor}), 422, "next_cursor")


def test_a_share_id_with_a_nul_is_refused(api: httpx.Client) -> None:
    refused(api.delete("/v1/shares/sh_%00"), 422, "NUL")
    refused(api.delete("/v1/shares/sh_nope"), 404, "no share")


SECRET_EVENT = {"type": "status", "data": {"label": "Bearer sk-live-1234567890abcdefghijklmnop"}}
NOT_A_COUNT = ["abc", None, [1], {"a": 1}, 1e300, True, -5, 1.5, 2**53, 2**63]


@pytest.mark.parametrize("value", NOT_A_COUNT, ids=repr)
def test_the_reserved_redacted_key_takes_only_a_count(api: httpx.Client, value: object) -> None:
    answer = api.post("/v1/sessions", json={"id": "m", "metadata": {"redacted": value}})
    refused(answer, 422, "'redacted' is reserved")
    assert api.get("/v1/sessions/m").status_code == 404


def test_a_count_given_at_create_is_added_to(api: httpx.Client) -> None:
    # An exported session brings its count; it goes on counting after import.
    body = {"id": "m", "metadata": {"redacted": 2, "password": "hunter2"}}
    created = api.post("/v1/sessions", json=body)
    assert created.json()["metadata"] == {"redacted": 3, "password": "[REDACTED]"}
    assert api.post("/v1/sessions/m/events", json=SECRET_EVENT).is_success
    assert api.get("/v1/sessions/m").json()["metadata"]["redacted"] == 4


def _store_metadata(database_url: str, session_id: str, metadata_json: str) -> None:
    """Write metadata as a database from before the key was reserved may hold it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        with sqlite3.connect(url.database) as connection:
            connection.execute(
                "UPDATE sessions SET metadata = ? WHERE id = ?", (metadata_json, session_id)
            )
        return

    async def update() -> None:
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(
                "UPDATE sessions SET metadata = $1::jsonb WHERE id = $2", metadata_json, session_id
            )
        finally:
            await connection.close()

    run_sync(update())


@pytest.mark.parametrize(
    "stored", ['"abc"', "null", "[1]", '{"a": 1}', "1e300", "true", "-5", "9223372036854775808"]
)
def test_a_bad_count_stored_before_is_replaced_by_the_count(
    api: httpx.Client, database_url: str, stored: str
) -> None:
    assert api.post("/v1/sessions", json={"id": "old", "metadata": {"user": "al"}}).is_success
    _store_metadata(database_url, "old", f'{{"user": "al", "redacted": {stored}}}')
    for n in range(2):
        answer = api.post("/v1/sessions/old/events", json=[SECRET_EVENT, STATUS])
        assert answer.status_code == 200, answer.text
        assert answer.json()["last_seq"] == 2 * (n + 1)
    assert api.get("/v1/sessions/old").json()["metadata"] == {"user": "al", "redacted": 2}
    assert "sk-live" not in api.get("/v1/sessions/old/events").text


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "m", "metadata": {"k": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        b'{"id": "m", "metadata": {"k": ' + b"1" * 5000 + b"}}",
        b'{"id": "m", "metadata": {"k": "\xff"}}',
    ],
    ids=["deep", "long number", "not utf-8"],
)
def test_a_body_json_cannot_finish_reading_gets_a_sentence(api: httpx.Client, body: bytes) -> None:
    refused(raw_json(api, "/v1/sessions", body), 400, "could not be read as JSON")
