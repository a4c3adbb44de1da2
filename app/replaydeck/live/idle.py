"""When a session without `final` counts as abandoned: nothing appended for a while.

The timeout is the tracer's (REPLAYDECK_TRACE_IDLE_TIMEOUT): a session without
`final` and without an append for that long is abandoned, so a session whose trace
says "abandoned" is not followed forever by its tails and replays either.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from replaydeck.store.base import SessionRecord


def wall_us() -> int:
    return time.time_ns() // 1000


def last_activity_us(session: SessionRecord, moved_us: int | None) -> int:
    """When the session last moved: its newest event's `ts` (its creation when it has
    none), or the last append this server saw (`moved_us`), whichever is later."""
    logged = session.last_ts_us if session.last_ts_us is not None else session.created_at_us
    return logged if moved_us is None else max(logged, moved_us)


class Quiet:
    """One stream's watch on how long its session has gone without an append.

    It counts from the later of the newest event's `ts` and the last time the stream
    saw the session grow on the hub, so a producer whose clock runs behind (or that
    imports old events) is not taken for gone while it is still appending. Streams
    set `moved` when they wake for new events (no clock read on that hot path); the
    clock is read only when they ask, on keep-alives.
    """

    __slots__ = ("_now", "moved", "since_us", "timeout_us")

    def __init__(
        self, timeout_s: float, since_us: int, *, now: Callable[[], int] = wall_us
    ) -> None:
        self.timeout_us = timeout_s * 1e6
        self.since_us = since_us
        self.moved = False
        self._now = now

    def saw(self, ts_us: int) -> None:
        """An event with this `ts` was read from the log."""
        if ts_us > self.since_us:
            self.since_us = ts_us

    def abandoned(self) -> bool:
        now = self._now()
        if self.moved:
            self.moved = False
            self.since_us = max(self.since_us, now)
            return False
        return now - self.since_us >= self.timeout_us
