"""Byte budgets for reading the log out to a client: pages of about 1 MiB, writes of 64 KiB.

A stream that is catching up holds one page of the log while it writes it out, and
a client that stops reading keeps it there until the send timeout drops it. Pages
are counted in events, and an event may be anything from a few bytes to
REPLAYDECK_MAX_EVENT_BYTES, so a page of 500 could be 100 MB. So each read asks for
as many events as the page before suggests fit in PAGE_BYTES, a page is cut there
when sizes jump, and a page
goes out in runs of frames of about CHUNK_BYTES: the log is the buffer, never the
socket. All the per-event work here is in C (map, accumulate, bisect), so a fast
reader of small events pays next to nothing for it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import accumulate

PAGE_BYTES = 1 << 20
CHUNK_BYTES = 64 << 10
# What a PageSize's first read assumes of events it has not seen yet: at most this
# large, so it asks for 16. Assuming the largest allowed (256 KiB: 4 events) made
# short reads follow each other by the page of 4. A first page of bigger events is
# read whole (at most 16 x the event limit, 4 MiB at defaults) and cut to PAGE_BYTES
# before it is kept. Replays need no guess: their pages end at PAGE_BYTES in the
# store's own query (replay/pages.py), as a guess of 16 left a thousand concurrent
# replays of 100-event sessions seconds late on their second page.
FIRST_GUESS_BYTES = 64 << 10


class PageSize:
    """How many events a stream's next read of the log asks for."""

    __slots__ = ("budget", "limit", "most")

    def __init__(self, most: int, *, largest: int, budget: int = PAGE_BYTES) -> None:
        # `largest`: the most bytes one event may take.
        self.most = most
        self.budget = budget
        self.limit = self._fitting(min(largest, FIRST_GUESS_BYTES))

    def _fitting(self, size: int) -> int:
        return max(1, min(self.most, self.budget // max(size, 1)))

    def keep(self, sizes: list[int]) -> int:
        """How many of a page's events, of these sizes, to hold (the rest are read
        again later); sizes the next read by this page's largest event."""
        if sizes:
            self.limit = self._fitting(max(sizes))
        return within(sizes, self.budget)


def within(sizes: list[int], budget: int = PAGE_BYTES) -> int:
    """How many items of these sizes, from the first, fit in `budget`: the first
    always does, and the one that crosses it is the last."""
    ends = list(accumulate(sizes))
    if not ends or ends[-1] <= budget:
        return len(ends)
    return bisect_left(ends, budget) + 1


def runs(sizes: Iterable[int], limit: int = CHUNK_BYTES) -> list[int]:
    """Where to cut items of these sizes into runs of at most `limit` bytes: each run's
    end index. An item larger than `limit` is a run of its own."""
    ends = list(accumulate(sizes))
    if not ends:
        return []
    if ends[-1] <= limit:
        return [len(ends)]
    cuts: list[int] = []
    start = 0
    while start < len(ends):
        base = ends[start - 1] if start else 0
        start = max(start + 1, bisect_right(ends, base + limit, start))
        cuts.append(start)
    return cuts
