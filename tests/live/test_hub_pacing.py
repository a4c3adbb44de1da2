"""The hub wakes a session's followers at most once a gap: appends in between ride along."""

from __future__ import annotations

import asyncio

import pytest

from replaydeck.live.hub import Hub, Wake
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
