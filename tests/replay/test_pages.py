"""PageReader: a session's log a page at a time, the next page read while this one is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from replaydeck.replay.pages import PageReader
from replaydeck.store.base import EventRow
from replaydeck.store.sql import SqlStore
from tests.store.contract import ev
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


class CountingStore(SqlStore):
    """The real store, remembering which pages were asked for."""

    def __init__(self, inner: SqlStore) -> None:
        super().__init__(inner.engine)
        self.asked: list[int] = []

    async def read_rows(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> Sequence[EventRow]:
        self.asked.append(after)
        return await super().read_rows(session_id, after=after, limit=limit)


async def test_pages_follow_each_other_and_a_full_page_reads_the_next_ahead(
    store: SqlStore,
) -> None:
    await store.append("s", [ev() for _ in range(5)])
    counting = CountingStore(store)
    pages = PageReader(counting, "s", limit=2)
    first = await pages.read(0)
    assert [row[0] for row in first] == [1, 2]
    # Asked for before the caller wants it.
    await eventually(lambda: counting.asked == [0, 2])
    assert [row[0] for row in await pages.read(2)] == [3, 4]
    assert [row[0] for row in await pages.read(4)] == [5]
    # A short page is the end for now: nothing read ahead after it.
    assert counting.asked == [0, 2, 4]
    pages.close()


async def test_a_read_elsewhere_discards_the_page_read_ahead(store: SqlStore) -> None:
    await store.append("s", [ev() for _ in range(6)])
    pages = PageReader(store, "s", limit=2)
    await pages.read(0)
    # A cursor that moved on (a retry, a resume): the page after 2 is not wanted.
    assert [row[0] for row in await pages.read(4)] == [5, 6]
    assert await pages.read(6) == []
    pages.close()


async def test_close_cancels_a_read_in_flight(store: SqlStore) -> None:
    await store.append("s", [ev() for _ in range(4)])
    pages = PageReader(store, "s", limit=2)
    await pages.read(0)
    # Just started: the read ahead has not had a turn of the loop yet.
    assert pages._ahead is not None
    _, read_ahead = pages._ahead
    pages.close()
    with pytest.raises(asyncio.CancelledError):
        await read_ahead
