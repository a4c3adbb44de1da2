"""The hub wakes a session's followers at most once a gap, and a slice of them a loop turn:
appends in between ride along."""

from __future__ import annotations

import asyncio

import pytest

from replaydeck.live.hub import WAKE_SLICE, Hub, Wake
from replaydeck.store.base import StoredEvent

pytestmark = pytest.mark.anyio

GAP = 0.2


def stored(seq: int) -> StoredEvent:
    return StoredEvent(
        seq=seq, id=f"e{seq}", type="status", ts_us=seq, envelope=b'{"seq":%d}' % seq
    )


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)  # ok: a few loop turns, for callbacks already due


async def test_an_append_after_a_quiet_moment_wakes_followers_at_once() -> None:
    hub = Hub(wake_gap=GAP)
    with hub.subscribe("s") as subscription:
        waiting = asyncio.ensure_future(subscription.wait(0))
        await turns()
        hub.publish("s", 1, events=[stored(1)])
        await turns()
        assert waiting.done()
        assert waiting.result() is Wake.NEW_EVENTS


async def test_appends_inside_the_gap_reach_a_follower_in_one_wake_at_its_end() -> None:
    hub = Hub(wake_gap=GAP)
    loop = asyncio.get_running_loop()
    with hub.subscribe("s") as subscription:
        first = asyncio.ensure_future(subscription.wait(0))
        await turns()
        hub.publish("s", 1, events=[stored(1)])
        woken_at = loop.time()
        await first
        second = asyncio.ensure_future(subscription.wait(1))
        await turns()
        hub.publish("s", 2, events=[stored(2)])
        hub.publish("s", 3, events=[stored(3)])
        await turns()
        assert not second.done()  # inside the gap: the wake is due at its end
        assert await second is Wake.NEW_EVENTS
        assert loop.time() >= woken_at + GAP
        recent = subscription.frames_after(1)
        assert recent is not None
        chunk, last, _ = recent
        assert last == 3
        assert chunk.count(b"id: ") == 2  # both appends, one write


async def test_a_follower_that_was_busy_takes_new_events_without_waiting() -> None:
    hub = Hub(wake_gap=GAP)
    with hub.subscribe("s") as subscription:
        first = asyncio.ensure_future(subscription.wait(0))
        await turns()
        hub.publish("s", 1, events=[stored(1)])
        await first
        hub.publish("s", 2, events=[stored(2)])  # while the follower was writing
        assert await asyncio.wait_for(subscription.wait(1), timeout=GAP / 2) is Wake.NEW_EVENTS


async def test_the_last_follower_leaving_cancels_the_pending_wake() -> None:
    hub = Hub(wake_gap=GAP)
    with hub.subscribe("s") as subscription:
        first = asyncio.ensure_future(subscription.wait(0))
        await turns()
        hub.publish("s", 1, events=[stored(1)])
        await first
        pending = asyncio.ensure_future(subscription.wait(1))
        await turns()
        hub.publish("s", 2, events=[stored(2)])
        watch = subscription._watch
        assert watch.timer is not None
        pending.cancel()
    assert watch.timer.cancelled()


async def test_followers_are_woken_a_slice_a_turn_and_the_later_ones_take_what_came_since() -> None:
    hub = Hub(wake_gap=0)
    followers = WAKE_SLICE * 3
    with hub.subscribe("s") as subscription:
        # What each follower sends when its wake comes: all it is missing, as a tail does.
        sent: list[bytes] = []

        async def follow() -> None:
            assert await subscription.wait(0) is Wake.NEW_EVENTS
            recent = subscription.frames_after(0)
            assert recent is not None
            sent.append(recent[0])

        tasks = [asyncio.ensure_future(follow()) for _ in range(followers)]
        await turns()
        hub.publish("s", 1, events=[stored(1)])
        await asyncio.sleep(0)  # ok: one loop turn, the first slice's
        assert len(sent) == WAKE_SLICE
        hub.publish("s", 2, events=[stored(2)])  # an append while the wake goes on
        await asyncio.gather(*tasks)
    assert len(sent) == followers
    # The first slice sent event 1 alone; the rest sent events 1 and 2 in one write.
    assert [chunk.count(b"id: ") for chunk in sent] == [1] * WAKE_SLICE + [2] * (
        followers - WAKE_SLICE
    )
