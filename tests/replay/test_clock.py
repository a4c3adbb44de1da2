"""LoopClock and its Waker on a real event loop: never early, in order, no sleeper held up."""

from __future__ import annotations

import asyncio
import random
import time

import anyio
import pytest

from replaydeck.replay.clock import LoopClock
from replaydeck.replay.waker import Waker
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[False, True], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    # uvloop too: its millisecond timers are what the Waker works around.
    return "asyncio", {"use_uvloop": request.param}


async def test_sleepers_wake_in_deadline_order_and_never_before_their_deadline() -> None:
    clock = LoopClock()
    rng = random.Random(5)
    # Far enough ahead that every sleeper is waiting before the first is due.
    start = clock.now() + 0.2
    deadlines = [start + rng.uniform(0.0, 0.05) for _ in range(200)]
    woke: list[tuple[float, float]] = []

    async def sleeper(deadline: float) -> None:
        await clock.sleep_until(deadline)
        woke.append((deadline, time.monotonic()))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for deadline in deadlines:
                tg.start_soon(sleeper, deadline)
    assert all(at >= deadline for deadline, at in woke)
    assert [deadline for deadline, _ in woke] == sorted(deadlines)


async def test_an_earlier_deadline_is_not_held_up_by_a_later_one() -> None:
    clock = LoopClock()
    long_sleep = asyncio.ensure_future(clock.sleep_until(clock.now() + 3600))
    try:
        with anyio.fail_after(10):
            deadline = clock.now() + 0.01
            await clock.sleep_until(deadline)
        assert time.monotonic() >= deadline
        assert not long_sleep.done()
    finally:
        long_sleep.cancel()


async def test_a_cancelled_sleeper_does_not_disturb_the_others() -> None:
    clock = LoopClock()
    first = asyncio.ensure_future(clock.sleep_until(clock.now() + 0.005))
    second = asyncio.ensure_future(clock.sleep_until(clock.now() + 0.02))
    await asyncio.sleep(0)  # ok: lets both register before one is cancelled
    first.cancel()
    with anyio.fail_after(10):
        await second
    assert first.cancelled()


async def test_a_deadline_already_passed_returns_at_once_without_a_thread() -> None:
    waker_clock = LoopClock()
    await waker_clock.sleep_until(waker_clock.now() - 1)
    assert waker_clock._waker is None


async def test_the_thread_leaves_when_idle_and_comes_back_for_the_next_sleep() -> None:
    waker = Waker(asyncio.get_running_loop(), idle_exit=0.01)
    with anyio.fail_after(10):
        await waker.sleep_until(time.monotonic() + 0.001)
        await eventually(lambda: not waker.thread_running)
        deadline = time.monotonic() + 0.001
        await waker.sleep_until(deadline)
    assert time.monotonic() >= deadline
