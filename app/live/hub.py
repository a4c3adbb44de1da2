"""The hub: per-session seq watermarks, never events.

A subscriber registers before it reads the log, then waits until the watermark
passes its cursor. Events themselves always come from the store, so a slow
subscriber costs a cursor, not a queue. Heartbeats come from one shared timer
that wakes every waiter, not from a timer per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Iterator


class Wake(enum.Enum):
    NEW_EVENTS = "new_events"
    HEARTBEAT = "heartbeat"
    GONE = "gone"


class _Watch:
    __slots__ = ("event", "gone", "seq", "subscribers")

    def __init__(self) -> None:
        self.seq = 0
        self.subscribers = 0
        self.gone = False
        self.event = asyncio.Event()

    def wake(self) -> None:
        # Waiters hold the old Event; swapping in a fresh one re-arms the watch.
        event, self.event = self.event, asyncio.Event()
        event.set()


class Subscription:
    __slots__ = ("_hub", "_watch")

    def __init__(self, hub: Hub, watch: _Watch) -> None:
        self._hub = hub
        self._watch = watch

    @property
    def watermark(self) -> int:
        return self._watch.seq

    @property
    def gone(self) -> bool:
        return self._watch.gone

    async def wait(self, after: int) -> Wake:
        """Return when the session passes `after`, is deleted, or a heartbeat is due."""
        watch = self._watch
        if watch.gone:
            return Wake.GONE
        if watch.seq > after:
            return Wake.NEW_EVENTS
        tick = self._hub.tick
        await watch.event.wait()
        if watch.gone:
            return Wake.GONE
        if watch.seq > after:
            return Wake.NEW_EVENTS
        if self._hub.tick != tick:
            return Wake.HEARTBEAT
        return Wake.NEW_EVENTS


class Hub:
    def __init__(self) -> None:
        self._watches: dict[str, _Watch] = {}
        self.tick = 0
        # Called with (session_id, last_seq) on every local publish; the
        # PostgreSQL notifier hooks in here to tell other replicas.
        self.on_publish: list[Callable[[str, int], None]] = []

    @contextlib.contextmanager
    def subscribe(self, session_id: str) -> Iterator[Subscription]:
        watch = self._watches.get(session_id)
        if watch is None:
            watch = self._watches[session_id] = _Watch()
        watch.subscribers += 1
        try:
            yield Subscription(self, watch)
        finally:
            watch.subscribers -= 1
            if watch.subscribers == 0 and self._watches.get(session_id) is watch:
                del self._watches[session_id]

    def publish(self, session_id: str, last_seq: int, *, local: bool = True) -> None:
        """Say that `session_id` now ends at `last_seq` (after the commit)."""
        watch = self._watches.get(session_id)
        if watch is not None and last_seq > watch.seq:
            watch.seq = last_seq
            watch.wake()
        if local:
            for callback in self.on_publish:
                callback(session_id, last_seq)

    def remove(self, session_id: str) -> None:
        """The session was deleted: end everyone following it."""
        watch = self._watches.get(session_id)
        if watch is not None:
            watch.gone = True
            watch.wake()

    def heartbeat(self) -> None:
        self.tick += 1
        for watch in self._watches.values():
            watch.wake()

    @property
    def subscriber_count(self) -> int:
        return sum(w.subscribers for w in self._watches.values())

    @property
    def sessions(self) -> list[str]:
        """Sessions someone follows; the PostgreSQL notifier re-syncs them after a gap."""
        return list(self._watches)

    async def run_heartbeats(self, interval: float) -> None:
        """The one shared timer; runs for the app's lifetime."""
        while True:
            await asyncio.sleep(interval)
            self.heartbeat()
