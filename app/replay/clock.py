"""Clocks for pacing. Tests inject a fake one and never sleep."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class LoopClock:
    """The running event loop's monotonic clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep_until(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        if deadline <= loop.time():
            return
        # call_at on the absolute deadline: no subtraction, so no rounding drift.
        future: asyncio.Future[None] = loop.create_future()
        handle = loop.call_at(deadline, _resolve, future)
        try:
            await future
        finally:
            handle.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
