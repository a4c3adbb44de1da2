"""Byte budgets: pages of the log of about 1 MiB, writes of about 64 KiB, exactly cut."""

from __future__ import annotations

import pytest

from replaydeck.budget import CHUNK_BYTES, FIRST_GUESS_BYTES, PAGE_BYTES, PageSize, runs, within
from replaydeck.live.hub import Hub
from replaydeck.live.tail import tail_frames
from replaydeck.replay.stream import ReplayParams, replay_frames
from replaydeck.store.sql import SqlStore
from tests.replay.test_replay_stream import FakeClock
from tests.store.contract import ev


def test_runs_cut_before_the_limit_and_give_a_large_item_a_run_of_its_own() -> None:
    assert runs([]) == []
    assert runs([10, 10, 10], limit=100) == [3]
    assert runs([40, 40, 40, 40], limit=100) == [2, 4]
    assert runs([40, 200, 40, 40, 40], limit=100) == [1, 2, 4, 5]
    assert runs([100, 100], limit=100) == [1, 2]


def test_within_keeps_the_first_item_and_the_one_that_crosses_the_budget() -> None:
    assert within([]) == 0
    assert within([5, 5], budget=10) == 2
    assert within([4, 4, 4, 4], budget=10) == 3
    assert within([50, 1], budget=10) == 1


def test_the_next_read_is_sized_by_the_largest_event_of_the_last_page() -> None:
    size = PageSize(500, largest=256 * 1024)
    assert size.limit == PAGE_BYTES // FIRST_GUESS_BYTES  # 16: the first read guesses
    assert size.keep([200] * 4) == 4
    assert size.limit == 500
    assert size.keep([200] * 10 + [300_000] * 490) == 14
    assert size.limit == PAGE_BYTES // 300_000


@pytest.mark.anyio
async def test_a_tail_catching_up_on_large_events_writes_bounded_chunks(
    store: SqlStore,
) -> None:
    await store.append("s", [ev("status", {"label": "x" * 30_000}) for _ in range(100)])
    await store.append("s", [ev("final")])
    chunks = [chunk async for chunk in tail_frames(store, Hub(), "s", after=0, page_size=500)]
    assert sum(chunk.count(b"\nevent: ") for chunk in chunks) == 101
    # Two 30 KB events a write (the third would pass 64 KiB), never a page at once.
    assert max(len(chunk) for chunk in chunks) < CHUNK_BYTES + 31_000
    assert len(chunks) >= 50


@pytest.mark.anyio
@pytest.mark.parametrize("speed", [None, 1000.0])
async def test_a_replay_catching_up_writes_bounded_chunks(
    store: SqlStore, speed: float | None
) -> None:
    await store.append("s", [ev("status", {"label": "x" * 30_000}) for _ in range(100)])
    await store.append("s", [ev("final")])
    frames = replay_frames(
        store,
        Hub(),
        FakeClock(),
        "s",
        ReplayParams(speed=speed),
        page_size=500,
        heartbeat_interval=15.0,
        final_seq=101,
    )
    chunks = [chunk async for chunk in frames]
    assert sum(chunk.count(b"\nevent: ") for chunk in chunks) == 102  # and replay.end
    assert max(len(chunk) for chunk in chunks) < CHUNK_BYTES + 31_000
