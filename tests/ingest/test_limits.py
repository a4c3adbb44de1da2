"""Ingest limits: every refusal is a 413 before anything is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from replaydeck.config import Settings
from replaydeck.errors import InvalidRequest, PayloadTooLarge
from replaydeck.ingest.body import check_declared_length
from tests.ingest.test_append_api import ndjson

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/limits.db",
        max_event_bytes=1024,
        max_request_bytes=32 * 1024,
        max_batch_events=50,
    )


async def test_limits_answer_413(client: httpx.AsyncClient) -> None:
    big_event = {"type": "status", "data": {"label": "x" * 2000}}
    response = await client.post("/v1/sessions/s/events", json=big_event)
    assert response.status_code == 413
    assert "REPLAYDECK_MAX_EVENT_BYTES" in response.json()["detail"]

    too_many = [{"type": "status", "data": {"label": "x"}}] * 51
    response = await client.post("/v1/sessions/s/events", json=too_many)
    assert response.status_code == 413
    assert "REPLAYDECK_MAX_BATCH_EVENTS" in response.json()["detail"]

    response = await client.post(
        "/v1/sessions/s/events",
        content=ndjson(too_many),
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 413

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):  # far more than the limit; the server stops reading early
            yield b'{"type": "status", "data": {"label": "' + b"y" * 900 + b'"}}\n'

    response = await client.post(
        "/v1/sessions/s/events",
        content=endless(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 413
    assert "REPLAYDECK_MAX_REQUEST_BYTES" in response.json()["detail"]

    response = await client.post(
        "/v1/sessions/s/events",
        content=b"[" + b" " * 40_000 + b"]",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert (await client.get("/v1/sessions/s")).status_code == 404


def test_declared_length_is_read_strictly() -> None:
    """The HTTP parser refuses these first; behind another server the app must too."""
    limit = 32 * 1024
    check_declared_length(None, limit)
    check_declared_length("00" + str(limit), limit)
    for malformed in ("+5", " 5", "5 ", "\u0665", "-1", "5_0", "", "0x10"):
        with pytest.raises(InvalidRequest):
            check_declared_length(malformed, limit)
    for too_large in (str(limit + 1), "9" * 5000):
        with pytest.raises(PayloadTooLarge):
            check_declared_length(too_large, limit)
