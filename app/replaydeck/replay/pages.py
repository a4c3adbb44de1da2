"""Reading a session's log a page at a time, with the next page read ahead.

A replay that is catching up alternates between waiting for the database and
writing to the socket. Reading the next page while the current one is being
sent lets the two overlap: the database driver works in its own thread (or on
the server) while the event loop frames and writes. Pages are sized to a
byte budget (replaydeck.budget), so the two pages a replay may hold stay small
whatever its events weigh. The first read ends at that budget in the store's own
query, so a session of small events is one read however few a guess at their size
would have asked for: a guess of 16 left a thousand concurrent replays of 100-event
sessions waiting seconds for their second page (scripts/bench/RESULTS.md, replay
timing); later reads are sized by the page before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from replaydeck.budget import PAGE_BYTES, PageSize
from replaydeck.store.base import EventRow, EventStore

_ENVELOPE = itemgetter(3)


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[EventRow]
    # Each row's envelope size, for cutting the page into writes.
    sizes: list[int]
    # The log may go on after this page (it was full, or cut to the budget).
    more: bool


class PageReader:
    """Pages after a cursor; a page with more after it starts reading the next.

    At most one read is ahead, so a replay holds at most two pages and at most
    one pooled connection. `close` cancels a read still in flight.
    """

    def __init__(self, store: EventStore, session_id: str, *, limit: int) -> None:
        self._store = store
        self._session_id = session_id
        # Sizes the reads after the first (whose own bound is in the query, so the
        # guess PageSize starts with is never used).
        self._size = PageSize(limit, largest=PAGE_BYTES)
        self._first = True
        self._ahead: tuple[int, int, asyncio.Task[Sequence[EventRow]]] | None = None

    def _fetch(self, after: int, limit: int) -> asyncio.Task[Sequence[EventRow]]:
        return asyncio.ensure_future(
            self._store.read_rows(self._session_id, after=after, limit=limit)
        )

    async def read(self, after: int) -> Page:
        """The page after `after`: the one read ahead if it starts there, else a new read."""
        ahead, self._ahead = self._ahead, None
        bounded = False
        if ahead is not None and ahead[0] == after:
            limit, rows = ahead[1], await ahead[2]
        elif self._first:
            # Sized by bytes in the query: nothing is known of the events yet.
            limit, bounded = self._size.most, True
            rows = await self._store.read_rows(
                self._session_id, after=after, limit=limit, max_bytes=self._size.budget
            )
        else:
            if ahead is not None:
                _discard(ahead[2])
            limit = self._size.limit
            rows = await self._store.read_rows(self._session_id, after=after, limit=limit)
        self._first = False
        sizes = list(map(len, map(_ENVELOPE, rows)))
        # Sizes the next read by this page's largest event (a plain read: the
        # query's byte bound costs a catch-up at speed=max a fifth of its rate).
        keep = self._size.keep(sizes)
        more = keep < len(rows) or len(rows) == limit
        more = more or (bounded and sum(sizes) >= self._size.budget)
        if keep < len(rows):
            rows, sizes = rows[:keep], sizes[:keep]
        if more:
            # There may be more, and the caller is about to spend a while sending this.
            next_after, next_limit = rows[-1][0], self._size.limit
            self._ahead = (next_after, next_limit, self._fetch(next_after, next_limit))
        return Page(rows, sizes, more)

    def close(self) -> None:
        if self._ahead is not None:
            _discard(self._ahead[2])
            self._ahead = None


def _discard(task: asyncio.Task[Sequence[EventRow]]) -> None:
    task.cancel()
    if task.done() and not task.cancelled():
        # Its outcome is no longer wanted; retrieving it keeps asyncio from
        # logging "exception was never retrieved" for a failed read ahead.
        with contextlib.suppress(Exception):
            task.result()
