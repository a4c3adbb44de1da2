"""With REPLAYDECK_JAEGER_URL set, a session links to its trace in Jaeger."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from replaydeck.config import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/j.db", jaeger_url="http://jaeger:16686/"
    )


async def test_session_carries_trace_id_and_jaeger_url(client: httpx.AsyncClient) -> None:
    created = (await client.post("/v1/sessions", json={"id": "s"})).json()
    trace_id = created["trace_id"]
    assert len(trace_id) == 32
    assert created["jaeger_url"] == f"http://jaeger:16686/trace/{trace_id}"
    fetched = (await client.get("/v1/sessions/s")).json()
    assert fetched["jaeger_url"] == created["jaeger_url"]
    listed = (await client.get("/v1/sessions")).json()["sessions"][0]
    assert listed["jaeger_url"] == created["jaeger_url"]


async def test_without_jaeger_url_the_link_is_null(tmp_path: Path) -> None:
    from replaydeck.web.app import create_app

    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/n.db"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            created = (await client.post("/v1/sessions", json={})).json()
    assert created["jaeger_url"] is None
    assert len(created["trace_id"]) == 32
