"""The LISTEN notifier: one read per notice per replica, and watermark resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import pytest

from replaydeck.config import Settings
from replaydeck.live.hub import Hub
from replaydeck.live.pg_notify import PgNotifier, listen_dsn
from replaydeck.live.tail import tail_frames
from replaydeck.store.backends import open_store
from replaydeck.store.base import StoredEvent
from replaydeck.store.engine import make_engine
from replaydeck.store.sql import SqlStore
from tests.store.contract import ev
from tests.store.pg import pg_template, pg_url

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]
__all__ = ["pg_template", "pg_url"]


class CountingStore(SqlStore):
    reads = 0

    async def read(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        self.reads += 1
        return await super().read(session_id, after=after, limit=limit)


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[CountingStore, SqlStore]]:
    """This replica's store (counting reads) and another replica's."""
    here = CountingStore(make_engine(Settings(database_url=pg_url)))
    there = open_store(make_engine(Settings(database_url=pg_url)))
    yield here, there
    await here.close()
    await there.close()


async def follow(
    frames: AsyncIterator[bytes], seen: list[int], until: int, started: asyncio.Event
) -> None:
    async for chunk in frames:
        seen.extend(int(line[4:]) for line in chunk.split(b"\n") if line.startswith(b"id: "))
        if seen:
            started.set()
        if seen and seen[-1] >= until:
            return


async def test_followers_of_a_remote_session_share_one_read_per_notice(
    pg_url: str, stores: tuple[CountingStore, SqlStore]
) -> None:
    here, there = stores
    await there.append("s", [ev()])
    hub = Hub()
    notifier = PgNotifier(listen_dsn(pg_url), hub, store=here)
    async with anyio.create_task_group() as group:
        group.start_soon(notifier.run)
        with anyio.fail_after(10):
            await notifier.connected.wait()
        seen: list[list[int]] = [[] for _ in range(20)]
        started = [asyncio.Event() for _ in range(20)]
        followers = [
            asyncio.ensure_future(
                follow(tail_frames(here, hub, "s", after=0, page_size=100), seen[n], 6, started[n])
            )
            for n in range(20)
        ]
        with anyio.fail_after(10):  # every follower has caught up to seq 1
            await asyncio.gather(*(event.wait() for event in started))
        before = here.reads
        for _ in range(5):
            await there.append("s", [ev()])
        with anyio.fail_after(10):
            await asyncio.gather(*followers)
        group.cancel_scope.cancel()
    assert all(s == [1, 2, 3, 4, 5, 6] for s in seen)
    # Five notices, at most one read each (fewer when reads coalesce), for 20 followers.
    assert here.reads - before <= 5


async def test_after_a_reconnect_followers_catch_up_on_missed_appends(
    pg_url: str, stores: tuple[CountingStore, SqlStore]
) -> None:
    here, there = stores
    await there.append("s", [ev()])
    hub = Hub()
    notifier = PgNotifier(listen_dsn(pg_url), hub, store=here, retry_initial=0.01)
    seen: list[int] = []
    with hub.subscribe("s"):
        async with anyio.create_task_group() as group:
            group.start_soon(notifier.run)
            with anyio.fail_after(10):
                await notifier.connected.wait()
            started = asyncio.Event()
            follower = asyncio.ensure_future(
                follow(tail_frames(here, hub, "s", after=0, page_size=100), seen, 3, started)
            )
            with anyio.fail_after(10):
                await started.wait()
            # Cut the LISTEN connection (what a restart does), and append while it is down.
            await there.append("s", [ev()])
            admin = await here.engine.connect()
            await admin.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
            )
            await admin.close()
            await there.append("s", [ev()])
            with anyio.fail_after(10):
                await follower
            group.cancel_scope.cancel()
    assert seen == [1, 2, 3]
