"""Clocks for pacing. Tests inject a fake one and never sleep."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from replaydeck.replay.waker import Waker


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class LoopClock:
    """The monotonic clock, read afresh each time, with sleeps woken on the running loop.

    Not `loop.time()`: on uvloop that is libuv's cached millisecond, and its
    timers are no finer, which made replayed events up to a millisecond late
    (scripts/bench/RESULTS.md, benchmark 5). `Waker` wakes sleepers to within
    the operating system's timer slack instead, and never before their deadline.
    """

    def __init__(self) -> None:
        self._waker: Waker | None = None

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= time.monotonic():
            return
        loop = asyncio.get_running_loop()
        if self._waker is None or self._waker.loop is not loop:
            # Made lazily: the app builds its clock before any loop runs.
            self._waker = Waker(loop, now=time.monotonic)
        await self._waker.sleep_until(deadline)
