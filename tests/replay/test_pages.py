"""PageReader: a session's log a page at a time, the next page read while this one is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from replaydeck.replay.pages import Page, PageReader
from replaydeck.store.base import EventRow
from replaydeck.store.sql import SqlStore
from replaydeck.store.sqlite import SqliteEventStore
from tests.store.contract import ev
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


def seqs(page: Page) -> list[int]:
    return [row[0] for row in page.rows]


class CountingStore(SqliteEventStore):
    """The real store, remembering which pages were asked for."""

    def __init__(self, inner: SqlStore) -> None:
        super().__init__(inner.engine)
        self.asked: list[int] = []
        self.limits: list[int | None] = []

    async def read_rows(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[EventRow]:
        self.asked.append(after)
        self.limits.append(limit)
        return await super().read_rows(session_id, after=after, limit=limit, max_bytes=max_bytes)


async def test_pages_follow_each_other_and_a_full_page_reads_the_next_ahead(
    store: SqlStore,
) -> None:
    await store.append("s", [ev() for _ in range(5)])
    counting = CountingStore(store)
    pages = PageReader(counting, "s", limit=2)
    first = await pages.read(0)
    assert [row[0] for row in first.rows] == [1, 2]
    assert first.more
    # Asked for before the caller wants it.
    await eventually(lambda: counting.asked == [0, 2])
    assert seqs(await pages.read(2)) == [3, 4]
    last = await pages.read(4)
    assert seqs(last) == [5]
    assert not last.more
    # A short page is the end for now: nothing read ahead after it.
    assert counting.asked == [0, 2, 4]
    pages.close()


async def test_a_read_elsewhere_discards_the_page_read_ahead(store: SqlStore) -> None:
    await store.append("s", [ev() for _ in range(6)])
    pages = PageReader(store, "s", limit=2)
    await pages.read(0)
    # A cursor that moved on (a retry, a resume): the page after 2 is not wanted.
    assert seqs(await pages.read(4)) == [5, 6]
    assert seqs(await pages.read(6)) == []
    pages.close()


async def test_close_cancels_a_read_in_flight(store: SqlStore) -> None:
    await store.append("s", [ev() for _ in range(4)])
    pages = PageReader(store, "s", limit=2)
    await pages.read(0)
    # Just started: the read ahead has not had a turn of the loop yet.
    assert pages._ahead is not None
    _, _, read_ahead = pages._ahead
    pages.close()
    with pytest.raises(asyncio.CancelledError):
        await read_ahead


async def test_pages_of_large_events_end_at_the_byte_budget(store: SqlStore) -> None:
    # 40 events of ~100 KB: a 1 MiB budget holds about ten of them.
    await store.append("s", [ev("status", {"label": "x" * 100_000}) for _ in range(40)])
    counting = CountingStore(store)
    pages = PageReader(counting, "s", limit=500)
    cursor, held = 0, []
    while True:
        page = await pages.read(cursor)
        held.append(sum(page.sizes))
        if not page.rows:
            break
        cursor = page.rows[-1][0]
    pages.close()
    assert cursor == 40
    # The first read ends at 1 MiB in the query (eleven events reach past it), the
    # next are sized from the page before: about ten per read.
    assert counting.limits[0] == 500
    assert set(counting.limits[1:]) == {10}
    assert max(held) <= (1 << 20) + 101_000


async def test_a_session_of_small_events_is_one_read(store: SqlStore) -> None:
    # A first read that guessed at its events' size (16 of at most 64 KiB) left a
    # thousand concurrent replays waiting on their second page.
    await store.append("s", [ev() for _ in range(300)])
    counting = CountingStore(store)
    pages = PageReader(counting, "s", limit=500)
    page = await pages.read(0)
    assert seqs(page) == list(range(1, 301))
    assert not page.more
    assert counting.asked == [0]
    pages.close()


async def test_a_page_is_cut_where_event_sizes_jump(store: SqlStore) -> None:
    await store.append("s", [ev() for _ in range(10)])
    await store.append("s", [ev("status", {"label": "x" * 300_000}) for _ in range(10)])
    pages = PageReader(store, "s", limit=500)
    page = await pages.read(0)
    # The first read ends with the event that takes it past 1 MiB: the fourth large one.
    assert seqs(page) == list(range(1, 15))
    assert page.more
    # And the next asks for as many as fit, sized by the first: three.
    assert seqs(await pages.read(14)) == [15, 16, 17]
    pages.close()
