"""Sub-millisecond wake-ups for many sleepers on one event loop, without spinning.

uvloop's timers have 1 ms resolution (libuv counts whole milliseconds and rounds
a delay to the nearest one), so a timed replay woken by `call_at` is up to a
millisecond late, or half a millisecond early. Here one thread per loop sleeps
until the earliest deadline on the thread's fine-grained timed wait, then asks
the loop for one pass that wakes every sleeper due by then. The loop never
polls, so an idle replay costs no CPU; a thousand replays due in the same
instant cost one cross-thread wake-up, not a thousand timers.

The thread needs the GIL to reach the loop, and a loop busy running Python
can keep it from the thread for up to the interpreter's switch interval (5 ms).
So each wake-up is also armed as an ordinary loop timer at the loop clock's
first whole millisecond after the deadline: a busy loop is woken by the timer
(as late as plain `call_at` would be, no later), an idle one by the thread,
whichever is first.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable


class Waker:
    """Deadlines on `now`'s clock for the sleepers of one running loop.

    The heap belongs to the loop's thread; the waker thread only sees the one
    instant it must wake the loop at (`_wake_at`), behind a condition variable.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        now: Callable[[], float] = time.monotonic,
        idle_exit: float = 5.0,
    ) -> None:
        self.loop = loop
        self._now = now
        # How long the thread lingers with nothing to wake before it exits; the
        # next sleep starts a new one.
        self._idle_exit = idle_exit
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        # The deadline the thread has been asked to wake the loop at, as the
        # loop last set it (None: the thread has fired, or was never asked).
        self._armed_at: float | None = None
        self._cond = threading.Condition()
        self._wake_at: float | None = None
        self._thread: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def thread_running(self) -> bool:
        with self._cond:
            return self._thread is not None

    def sleep_until(self, deadline: float) -> asyncio.Future[None]:
        """A future resolved on the loop once `now()` has reached `deadline`."""
        future = self.loop.create_future()
        heapq.heappush(self._heap, (deadline, next(self._order), future))
        if self._armed_at is None or deadline < self._armed_at:
            self._arm(deadline)
        return future

    def _arm(self, deadline: float) -> None:
        self._armed_at = deadline
        if self._timer is not None:
            self._timer.cancel()
        # uvloop counts whole milliseconds from its cached loop time, so a timer
        # on a whole millisecond fires on it, never before. Should the cached
        # time be stale, the timer fires early, wakes nobody and re-arms.
        when = self.loop.time() + (deadline - self._now())
        self._timer = self.loop.call_at(math.ceil(when * 1000) / 1000, self._wake_due)
        with self._cond:
            self._wake_at = deadline
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="replay-waker", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _wake_due(self) -> None:
        """On the loop: resolve everything due, in one pass, and arm the next wake."""
        self._armed_at = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._now()
        heap = self._heap
        while heap and heap[0][0] <= now:
            future = heapq.heappop(heap)[2]
            # A sleeper cancelled (a client gone) leaves its entry; skip it here.
            if not future.done():
                future.set_result(None)
        while heap and heap[0][2].done():
            heapq.heappop(heap)
        if heap:
            self._arm(heap[0][0])

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while True:
                if self._wake_at is None:
                    if not cond.wait(self._idle_exit) and self._wake_at is None:
                        self._thread = None
                        return
                    continue
                remaining = self._wake_at - self._now()
                if remaining > 0:
                    # Releases the lock; an earlier deadline notifies and is seen
                    # on the next turn of this loop.
                    cond.wait(remaining)
                    continue
                self._wake_at = None
                try:
                    self.loop.call_soon_threadsafe(self._wake_due)
                except RuntimeError:  # the loop is closed: nobody is left to wake
                    self._thread = None
                    return
