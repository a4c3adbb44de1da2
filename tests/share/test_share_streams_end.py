"""A revoked or expired share link ends its open /r/ streams at once, on every replica.

Before, a tail or replay opened through a link kept delivering whatever was appended
after the link was revoked or had expired, for as long as its client stayed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI
from httpx_sse import aconnect_sse

from replaydeck.config import Settings
from replaydeck.share.service import ShareService, signing_key
from replaydeck.store.engine import make_engine
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve
from tests.sse_client import dispatched
from tests.store.pg import pg_template, pg_url
from tests.waiting import eventually

pytestmark = pytest.mark.anyio
__all__ = ["pg_template", "pg_url"]

SECRET = "a-share-secret-that-both-replicas-know-0123456789"


def status(label: str) -> dict[str, object]:
    return {"type": "status", "data": {"label": label}}


async def append(client: httpx.AsyncClient, label: str) -> None:
    response = await client.post("/v1/sessions/s/events", json=status(label))
    assert response.status_code == 200, response.text


class Reader:
    """One /r/ stream read to its end: the labels it got, and whether it is following."""

    def __init__(self, client: httpx.AsyncClient, path: str) -> None:
        self.client = client
        self.path = path
        self.labels: list[str] = []
        self.following = anyio.Event()
        self.ended = anyio.Event()

    async def run(self) -> None:
        async with aconnect_sse(self.client, "GET", self.path) as source:
            assert source.response.status_code == 200
            async for sse in dispatched(source):
                if sse.event != "replay.end":
                    self.labels.append(sse.json()["data"]["label"])
                self.following.set()
        self.ended.set()


@contextlib.asynccontextmanager
async def reading(client: httpx.AsyncClient, link: str) -> AsyncIterator[list[Reader]]:
    """A live tail and a live-following replay of the link, both past the first event."""
    readers = [Reader(client, f"{link}/stream"), Reader(client, f"{link}/replay?speed=max")]
    async with anyio.create_task_group() as group:
        for reader in readers:
            group.start_soon(reader.run)
        for reader in readers:
            await reader.following.wait()
        yield readers


def token_path(url: str) -> str:
    return "/r/" + url.rsplit("/r/", 1)[1]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/share.db")
    with serve(create_app(settings)) as server:
        yield server


async def test_revoking_a_link_ends_its_open_tail_and_replay(running: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        await append(client, "before")
        created = (await client.post("/v1/sessions/s/shares", json={})).json()
        link = token_path(created["url"])
        with anyio.fail_after(10):
            async with reading(client, link) as readers:
                assert (await client.delete(f"/v1/shares/{created['id']}")).status_code == 204
                await append(client, "after the revoke")
                for reader in readers:
                    await reader.ended.wait()
        assert [reader.labels for reader in readers] == [["before"], ["before"]]
        assert (await client.get(f"{link}/stream")).status_code == 404


async def test_an_expiring_link_ends_its_open_tail_and_replay(running: RunningServer) -> None:
    settings: Settings = running.app.state.settings
    engine = make_engine(settings)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            await append(client, "before")
            # Links made through the API live at least a minute; the service makes
            # a short one so the test need not wait that long.
            created = await ShareService(engine, signing_key(settings)).create("s", 3)
            link = f"/r/{created.token}"
            with anyio.fail_after(10):
                async with reading(client, link) as readers:
                    # Nothing but the link's expiry ends them.
                    for reader in readers:
                        await reader.ended.wait()
            assert [reader.labels for reader in readers] == [["before"], ["before"]]
            assert (await client.get(f"{link}/stream")).status_code == 404
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_link_revoked_on_one_replica_ends_its_streams_on_another(pg_url: str) -> None:
    apps: list[FastAPI] = [
        create_app(Settings(database_url=pg_url, secret=SECRET)) for _ in range(2)
    ]
    with serve(apps[0]) as here, serve(apps[1]) as there:
        async with (
            httpx.AsyncClient(base_url=here.url, timeout=10) as on_here,
            httpx.AsyncClient(base_url=there.url, timeout=10) as on_there,
        ):
            await append(on_here, "before")
            created = (await on_here.post("/v1/sessions/s/shares", json={})).json()
            with anyio.fail_after(15):
                async with reading(on_there, token_path(created["url"])) as readers:
                    await eventually(lambda: there.app.state.streams.total() == 2)
                    revoked = await on_here.delete(f"/v1/shares/{created['id']}")
                    assert revoked.status_code == 204
                    for reader in readers:
                        await reader.ended.wait()
    assert [reader.labels for reader in readers] == [["before"], ["before"]]
