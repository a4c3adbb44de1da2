"""Replay pacing: event timestamps and a speed in, absolute deadlines out.

Pure: no clock is read here. Each deadline is computed from the replay's start
and the events' offsets, never by adding up sleeps, so lateness in sending one
event never shifts the next (no drift).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pacer:
    """Deadlines for one replay, fed event timestamps (µs) in seq order.

    `speed` None means as fast as possible. `max_gap_ms` caps any single gap
    between consecutive events on the replay's timeline. Timestamps that go
    backwards (a producer's clock skew) never move a deadline earlier than the
    one before it.
    """

    start: float
    speed: float | None = 1.0
    max_gap_ms: float | None = None
    _previous_ts_us: int | None = field(default=None, init=False)
    _timeline_ms: float = field(default=0.0, init=False)

    def due(self, ts_us: int) -> float:
        if self._previous_ts_us is not None:
            gap_ms = max(0.0, (ts_us - self._previous_ts_us) / 1000)
            if self.max_gap_ms is not None:
                gap_ms = min(gap_ms, self.max_gap_ms)
            self._timeline_ms += gap_ms
        if self._previous_ts_us is None or ts_us > self._previous_ts_us:
            self._previous_ts_us = ts_us
        if self.speed is None:
            return self.start
        return self.start + self._timeline_ms / 1000 / self.speed


def deadlines(
    timestamps_us: list[int],
    *,
    start: float,
    speed: float | None = 1.0,
    max_gap_ms: float | None = None,
) -> list[float]:
    """All deadlines at once; the same arithmetic the streaming replay uses."""
    pacer = Pacer(start=start, speed=speed, max_gap_ms=max_gap_ms)
    return [pacer.due(ts) for ts in timestamps_us]
