"""Reading a session's log a page at a time, with the next page read ahead.

A replay that is catching up alternates between waiting for the database and
writing to the socket. Reading the next page while the current one is being
sent lets the two overlap: the database driver works in its own thread (or on
the server) while the event loop frames and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from replaydeck.store.base import EventRow, EventStore


class PageReader:
    """Pages of `limit` rows after a cursor; a full page starts reading the next.

    At most one read is ahead, so a replay holds at most two pages and at most
    one pooled connection. `close` cancels a read still in flight.
    """

    def __init__(self, store: EventStore, session_id: str, *, limit: int) -> None:
        self._store = store
        self._session_id = session_id
        self.limit = limit
        self._ahead: tuple[int, asyncio.Task[Sequence[EventRow]]] | None = None

    async def read(self, after: int) -> Sequence[EventRow]:
        """The page after `after`: the one read ahead if it starts there, else a new read."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == after:
            rows = await ahead[1]
        else:
            if ahead is not None:
                _discard(ahead[1])
            rows = await self._store.read_rows(self._session_id, after=after, limit=self.limit)
        if len(rows) == self.limit:
            # A full page: there may be more, and the caller is about to spend a
            # while sending this one.
            next_after = rows[-1][0]
            task = asyncio.ensure_future(
                self._store.read_rows(self._session_id, after=next_after, limit=self.limit)
            )
            self._ahead = (next_after, task)
        return rows

    def close(self) -> None:
        if self._ahead is not None:
            _discard(self._ahead[1])
            self._ahead = None


def _discard(task: asyncio.Task[Sequence[EventRow]]) -> None:
    task.cancel()
    if task.done() and not task.cancelled():
        # Its outcome is no longer wanted; retrieving it keeps asyncio from
        # logging "exception was never retrieved" for a failed read ahead.
        with contextlib.suppress(Exception):
            task.result()
