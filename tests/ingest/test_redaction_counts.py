"""The session's metadata counts what redaction replaced, once per stored event."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio

SECRET = "sk-live-1234567890abcdefghijklmnop"


async def test_redacted_values_are_counted_in_metadata(client: httpx.AsyncClient) -> None:
    event = {
        "id": "e1",
        "type": "tool.call",
        "data": {"name": "http", "args": {"api_key": SECRET, "q": "x"}, "call_id": "c"},
    }
    await client.post("/v1/sessions/s/events", json=event)
    await client.post("/v1/sessions/s/events", json=event)  # a retry: not counted again
    await client.post(
        "/v1/sessions/s/events",
        json={"type": "status", "data": {"label": f"using Bearer {SECRET}"}},
    )
    session = (await client.get("/v1/sessions/s")).json()
    assert session["metadata"] == {"redacted": 2}
    events = (await client.get("/v1/sessions/s/events")).text
    assert SECRET not in events


async def test_session_metadata_is_redacted_on_create(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/sessions", json={"id": "m", "metadata": {"user": "al", "password": "hunter2"}}
    )
    assert response.status_code == 201
    assert response.json()["metadata"] == {"user": "al", "password": "[REDACTED]", "redacted": 1}


async def test_concurrent_appends_count_every_redaction(client: httpx.AsyncClient) -> None:
    import anyio

    async def send(index: int) -> None:
        response = await client.post(
            "/v1/sessions/c/events",
            json={"type": "status", "data": {"label": f"{index} Bearer {SECRET}"}},
        )
        assert response.status_code == 200

    async with anyio.create_task_group() as group:
        for index in range(12):
            group.start_soon(send, index)
    session = (await client.get("/v1/sessions/c")).json()
    assert session["event_count"] == 12
    assert session["metadata"] == {"redacted": 12}


def test_the_combined_prefilter_agrees_with_the_patterns() -> None:
    from replaydeck.ingest.redact import RedactionRules, redact_text

    rules = RedactionRules()
    assert rules.any_pattern is not None
    unfiltered = RedactionRules()
    object.__setattr__(unfiltered, "any_pattern", None)  # every pattern on its own
    for text in [
        "plain words",
        f"key {SECRET}",
        "Authorization: Bearer abcdefghijkl",
        "https://x.test/?API_KEY=hunter2&q=1",
        "AKIAABCDEFGHIJKLMNOP",
    ]:
        with_filter = redact_text(text, rules)
        without = redact_text(text, unfiltered)
        assert with_filter == without
    assert redact_text("https://x.test/?API_KEY=hunter2", rules)[1] == 1
