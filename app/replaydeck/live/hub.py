"""The hub: per-session seq watermarks, plus the last few frames, encoded once.

A subscriber registers before it reads the log, then waits until the watermark
passes its cursor. The log stays the source of truth: a slow subscriber costs a
cursor, not a queue. But a thousand live tails reading the same new event from
the database, and each encoding it, is a thousand times the work of doing it
once; so a local append hands its stored events to the hub, which keeps their
SSE frames in a small per-session window while anyone follows the session.
A subscriber whose cursor is inside the window takes its frames from there,
all it is missing in one write; one outside it (far behind, or after a
watermark from another replica, which carries no events) reads the log.
Heartbeats come from one shared timer that wakes every waiter, not from a timer
per connection.

A session's followers are woken at most once every WAKE_GAP: an append that
lands sooner after the last wake is delivered by one wake at the end of the
gap, together with whatever else arrived by then. Each wake costs every
follower a write (a syscall) whatever it carries, so under many small appends
(eight producers posting one event each) this turns a thousand followers'
writes per event into a thousand per gap; an append after a quiet moment is
still delivered at once. And a wake goes out a few followers a loop turn, so
appends that arrive while it goes on ride along with it too (_wake_from).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence

from replaydeck.formats.sse import encode_event
from replaydeck.store.base import StoredEvent

# Bytes of recent frames kept per followed session: enough for tails that are a
# moment behind, small enough that thousands of followed sessions stay cheap.
WINDOW_BYTES = 64 * 1024
# Sessions whose last append time the hub remembers, most recent first kept.
MOVED_SESSIONS = 10_000
# The least time between two wakes of one session's followers (seconds): small
# beside the 25 ms append-to-receive target, long enough to gather appends.
WAKE_GAP = 0.002
# Followers woken in one turn of the event loop (see _wake_from). Small, so the
# loop reads new appends early in a wake; 4 beat 8, 16, 32 and 64 in paired runs
# of the fan-out benchmark (scripts/bench/RESULTS.md).
WAKE_SLICE = 4


class Wake(enum.Enum):
    NEW_EVENTS = "new_events"
    HEARTBEAT = "heartbeat"
    GONE = "gone"


class _Watch:
    __slots__ = (
        "final_seq",
        "first_seq",
        "frames",
        "gone",
        "last_wake",
        "reads",
        "seq",
        "size",
        "subscribers",
        "timer",
        "waiters",
    )

    def __init__(self) -> None:
        self.seq = 0
        self.subscribers = 0
        self.gone = False
        # One future per waiting follower. Not an asyncio.Event: each of its
        # waiters removes itself from the Event's deque on waking, a linear
        # search, so waking a thousand followers cost a million comparisons. A
        # follower that leaves is dropped at the next wake (a heartbeat at most).
        self.waiters: list[asyncio.Future[None]] = []
        # When the followers were last woken for new events (the loop's clock),
        # and the wake scheduled for the end of the gap, if any.
        self.last_wake = float("-inf")
        self.timer: asyncio.TimerHandle | None = None
        # frames[i] is the SSE frame of seq first_seq + i; contiguous, newest last.
        self.frames: list[bytes] = []
        self.first_seq = 0
        self.size = 0
        self.final_seq: int | None = None
        # Log reads in flight, by (after, limit), shared by followers at one cursor.
        self.reads: dict[tuple[int, int], asyncio.Future[list[StoredEvent]]] = {}

    def remember(self, events: Sequence[StoredEvent], limit: int) -> None:
        for event in events:
            next_seq = self.first_seq + len(self.frames)
            if self.frames and event.seq < next_seq:
                continue  # already here
            if event.seq != next_seq or not self.frames:
                # A gap (events that came by another replica): start over; older
                # cursors read the log.
                self.frames, self.first_seq, self.size = [], event.seq, 0
            frame = encode_event(event.seq, event.type, event.envelope)
            self.frames.append(frame)
            self.size += len(frame)
            if event.type == "final":
                self.final_seq = event.seq
        if self.size > limit:
            drop = 0
            while self.size > limit and drop < len(self.frames) - 1:
                self.size -= len(self.frames[drop])
                drop += 1
            del self.frames[:drop]
            self.first_seq += drop

    def wake_paced(self, gap: float) -> None:
        """Wake the followers for new events now, or at the end of the gap."""
        if self.timer is not None or not self.waiters:
            return  # a wake is due and carries this too; or nobody waits
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = self.last_wake + gap
        if now >= due:
            self.last_wake = now
            self.wake()
        else:
            self.timer = loop.call_at(due, self._timed_wake)

    def _timed_wake(self) -> None:
        self.timer = None
        self.last_wake = asyncio.get_running_loop().time()
        self.wake()

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        _wake_from(waiters, 0)


def _wake_from(waiters: list[asyncio.Future[None]], start: int) -> None:
    """Wake WAKE_SLICE followers now and the rest in later turns of the loop.

    Between two slices the loop reads its sockets, so an append that comes in
    while a thousand followers are being written to is committed meanwhile, and
    the followers not yet woken send it in the same write as the one they were
    woken for: under a producer that posts one event at a time, the writes per
    event fall as the followers grow, where waking them all at once made it
    exactly one write per follower per event.
    """
    stop = start + WAKE_SLICE
    for waiter in waiters[start:stop]:
        if not waiter.done():  # a follower that left was cancelled
            waiter.set_result(None)
    if stop < len(waiters):
        asyncio.get_running_loop().call_soon(_wake_from, waiters, stop)


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

    async def read(
        self, read: Callable[[int, int], Awaitable[list[StoredEvent]]], after: int, limit: int
    ) -> list[StoredEvent]:
        """`read(after, limit)` from the log, shared by every follower at that cursor.

        When new events are not in the window (a gap left by another replica's
        appends, a reconnect, an outage), hundreds of followers at one cursor
        would each query the database at once; they share the first query
        instead. Shielded, so a follower that leaves does not cancel the read
        the others wait on.
        """
        watch = self._watch
        key = (after, limit)
        shared = watch.reads.get(key)
        if shared is None:
            shared = asyncio.ensure_future(read(after, limit))
            watch.reads[key] = shared

            def done(future: asyncio.Future[list[StoredEvent]]) -> None:
                if watch.reads.get(key) is future:
                    del watch.reads[key]
                if not future.cancelled():
                    future.exception()  # retrieved: the waiters re-raise it

            shared.add_done_callback(done)
        return await asyncio.shield(shared)

    def frames_after(self, cursor: int) -> tuple[bytes, int, bool] | None:
        """The window's frames after `cursor` as one chunk, the last seq in it, and
        whether it ends with `final`; None when the window does not reach back to
        `cursor` or holds nothing new (then read the log)."""
        watch = self._watch
        start = cursor + 1 - watch.first_seq
        if not watch.frames or start < 0 or start >= len(watch.frames):
            return None
        last = watch.first_seq + len(watch.frames) - 1
        chunk = b"".join(watch.frames[start:]) if start else b"".join(watch.frames)
        return chunk, last, watch.final_seq == last

    async def wait(self, after: int) -> Wake:
        """Return when the session passes `after`, is deleted, or a heartbeat is due."""
        watch = self._watch
        if watch.gone:
            return Wake.GONE
        if watch.seq > after:
            return Wake.NEW_EVENTS
        tick = self._hub.tick
        waiter = asyncio.get_running_loop().create_future()
        watch.waiters.append(waiter)
        await waiter
        if watch.gone:
            return Wake.GONE
        if watch.seq > after:
            return Wake.NEW_EVENTS
        if self._hub.tick != tick:
            return Wake.HEARTBEAT
        return Wake.NEW_EVENTS


class Hub:
    def __init__(self, window_bytes: int = WINDOW_BYTES, wake_gap: float = WAKE_GAP) -> None:
        self.window_bytes = window_bytes
        self.wake_gap = wake_gap
        self._watches: dict[str, _Watch] = {}
        self.tick = 0
        # Called with (session_id, last_seq) on every local publish; the
        # PostgreSQL notifier hooks in here to tell other replicas.
        self.on_publish: list[Callable[[str, int], None]] = []
        # When recently appended sessions last moved (epoch microseconds, this
        # server's clock), so a stream opened on one tells a live session from an
        # abandoned one even when its producer's `ts` runs behind.
        self._moved: OrderedDict[str, int] = OrderedDict()

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
                if watch.timer is not None:
                    watch.timer.cancel()

    def publish(
        self,
        session_id: str,
        last_seq: int,
        *,
        local: bool = True,
        events: Sequence[StoredEvent] = (),
    ) -> None:
        """Say that `session_id` now ends at `last_seq` (after the commit).

        `events`, the ones just committed, fill the session's frame window
        when someone follows it; nobody following, nothing is kept.
        """
        watch = self._watches.get(session_id)
        if watch is None or last_seq > watch.seq:
            moved = self._moved
            moved[session_id] = time.time_ns() // 1000
            moved.move_to_end(session_id)
            if len(moved) > MOVED_SESSIONS:
                moved.popitem(last=False)
        if watch is not None and events:
            watch.remember(events, self.window_bytes)
        if watch is not None and last_seq > watch.seq:
            watch.seq = last_seq
            watch.wake_paced(self.wake_gap)
        if local:
            for callback in self.on_publish:
                callback(session_id, last_seq)

    def last_moved(self, session_id: str) -> int | None:
        """When this server last saw the session grow (epoch µs), if it remembers."""
        return self._moved.get(session_id)

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

    def watermark(self, session_id: str) -> int | None:
        """The seq a followed session is known to end at; None if nobody follows it."""
        watch = self._watches.get(session_id)
        return None if watch is None else watch.seq

    @property
    def sessions(self) -> list[str]:
        """Sessions someone follows; the PostgreSQL notifier re-syncs them after a gap."""
        return list(self._watches)

    async def run_heartbeats(self, interval: float) -> None:
        """The one shared timer; runs for the app's lifetime."""
        while True:
            await asyncio.sleep(interval)
            self.heartbeat()
