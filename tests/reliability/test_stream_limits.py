"""Open streams per client: the one past the limit gets 429, and closing one frees a slot.

A client is an API key, a share link, or with an open API a remote address; each
counts its own live tails, replays and NDJSON downloads, through a real uvicorn.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

from replaydeck.auth.keys import Scope
from replaydeck.config import Settings
from replaydeck.web.app import create_app
from replaydeck.web.streams import OpenStreams
from tests.keys import create_keys
from tests.servers import RunningServer, serve
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

LIMIT = 3
NDJSON = "application/x-ndjson"


@pytest.fixture
def limited(tmp_path: Path) -> FastAPI:
    return create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/limits.db",
            max_streams_per_client=LIMIT,
            send_timeout=4,
        )
    )


@pytest.fixture
async def running(limited: FastAPI) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient]]:
    with serve(limited) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            response = await client.post(
                "/v1/sessions/s/events", json={"type": "status", "data": {"label": "on"}}
            )
            assert response.status_code == 200
            yield server, client


class Streams:
    """Streams held open by this test; each one is closed by leaving its context."""

    def __init__(self, client: httpx.AsyncClient, stack: contextlib.AsyncExitStack) -> None:
        self.client = client
        self.stack = stack
        self.open: list[contextlib.AsyncExitStack] = []

    async def open_one(self, path: str, **headers: str) -> httpx.Response:
        own = contextlib.AsyncExitStack()
        response = await own.enter_async_context(self.client.stream("GET", path, headers=headers))
        if response.status_code == 200:
            self.open.append(own)
            self.stack.push_async_callback(own.aclose)
        else:
            await response.aread()
            await own.aclose()
        return response

    async def close_one(self) -> None:
        await self.open.pop().aclose()


def open_count(server: RunningServer, key: str) -> int:
    streams: OpenStreams = server.app.state.open_streams
    return streams.count(key)


def assert_too_many(response: httpx.Response, who: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    problem = response.json()
    assert problem["type"] == "urn:replaydeck:problem:too-many-streams"
    assert problem["limit"] == LIMIT
    assert problem["detail"].startswith(f"{who} already has {LIMIT} open streams")
    assert "REPLAYDECK_MAX_STREAMS_PER_CLIENT" in problem["detail"]


async def test_an_open_api_limits_streams_per_address_and_a_closed_one_frees_a_slot(
    running: tuple[RunningServer, httpx.AsyncClient],
) -> None:
    server, client = running
    with anyio.fail_after(20):
        async with contextlib.AsyncExitStack() as stack:
            streams = Streams(client, stack)
            for path in ["/v1/sessions/s/stream", "/v1/sessions/s/replay", "/v1/sessions/s/stream"]:
                assert (await streams.open_one(path)).status_code == 200
            # Every kind of stream counts: tails, replays, NDJSON downloads.
            assert_too_many(await streams.open_one("/v1/sessions/s/stream"), "Address 127.0.0.1")
            assert_too_many(await streams.open_one("/v1/sessions/s/replay"), "Address 127.0.0.1")
            download = await streams.open_one("/v1/sessions/s/events", accept=NDJSON)
            assert_too_many(download, "Address 127.0.0.1")
            # A JSON page is not a stream.
            assert (await client.get("/v1/sessions/s/events")).status_code == 200
            await streams.close_one()
            await eventually(lambda: open_count(server, "address:127.0.0.1") == LIMIT - 1)
            assert (await streams.open_one("/v1/sessions/s/stream")).status_code == 200
            assert_too_many(await streams.open_one("/v1/sessions/s/replay"), "Address 127.0.0.1")
        # Everything closed: every slot is free again.
        await eventually(lambda: open_count(server, "address:127.0.0.1") == 0)


async def test_each_share_link_has_its_own_limit(
    running: tuple[RunningServer, httpx.AsyncClient],
) -> None:
    server, client = running
    links = []
    for _ in range(2):
        created = await client.post("/v1/sessions/s/shares", json={})
        assert created.status_code == 201
        links.append("/r/" + created.json()["url"].rsplit("/r/", 1)[1])
    first, second = links
    with anyio.fail_after(20):
        async with contextlib.AsyncExitStack() as stack:
            streams = Streams(client, stack)
            for _ in range(LIMIT):
                assert (await streams.open_one(f"{first}/replay")).status_code == 200
            refused = await streams.open_one(f"{first}/stream")
            assert_too_many(refused, "This replay link")
            # Refusals on /r/ carry the share headers too, and never the token.
            assert refused.headers["cache-control"] == "no-store"
            assert first.split("/")[-1] not in refused.text
            # Another link, and the API itself, are other clients.
            assert (await streams.open_one(f"{second}/stream")).status_code == 200
            assert (await streams.open_one("/v1/sessions/s/stream")).status_code == 200
            await streams.close_one()  # the API's stream: the link is still full
            await eventually(lambda: open_count(server, "address:127.0.0.1") == 0)
            assert_too_many(await streams.open_one(f"{first}/stream"), "This replay link")


async def test_each_api_key_has_its_own_limit(
    running: tuple[RunningServer, httpx.AsyncClient], limited: FastAPI
) -> None:
    server, client = running
    settings: Settings = limited.state.settings
    alice, bob = await create_keys(settings, Scope.READ, Scope.READ)
    as_alice = {"authorization": f"Bearer {alice.secret}"}
    as_bob = {"authorization": f"Bearer {bob.secret}"}
    alice_is = f"API key {alice.record.id}"
    tail = "/v1/sessions/s/stream"
    with anyio.fail_after(20):
        async with contextlib.AsyncExitStack() as stack:
            streams = Streams(client, stack)
            for _ in range(LIMIT):
                assert (await streams.open_one(tail, **as_alice)).status_code == 200
            assert_too_many(await streams.open_one("/v1/sessions/s/replay", **as_alice), alice_is)
            # Another key is another client, though it comes from the same address.
            assert (await streams.open_one(tail, **as_bob)).status_code == 200
            await streams.close_one()  # bob's: alice is still at her limit
            await eventually(lambda: open_count(server, f"key:{bob.record.id}") == 0)
            assert_too_many(await streams.open_one(tail, **as_alice), alice_is)
            await streams.close_one()  # one of alice's
            await eventually(lambda: open_count(server, f"key:{alice.record.id}") == LIMIT - 1)
            assert (await streams.open_one(tail, **as_alice)).status_code == 200
