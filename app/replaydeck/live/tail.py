"""The live tail: catch up from the log, then follow the hub's watermark."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from operator import attrgetter

from replaydeck.budget import PageSize, runs
from replaydeck.errors import StoreUnavailable
from replaydeck.formats.sse import HEARTBEAT, encode_event
from replaydeck.live.hub import Hub, Wake
from replaydeck.live.idle import Quiet
from replaydeck.store.base import EventStore

_ENVELOPE = attrgetter("envelope")
_TS = attrgetter("ts_us")


async def tail_frames(
    store: EventStore,
    hub: Hub,
    session_id: str,
    *,
    after: int,
    page_size: int,
    largest_event: int = 0,
    quiet: Quiet | None = None,
    outage_retry: float = 1.0,
) -> AsyncIterator[bytes]:
    """SSE frames of every event after `after`, through `final`.

    Registering with the hub before the first read means a commit that lands
    between our read and our wait still moves the watermark we wait on. Pages of
    the log are sized to a byte budget (`largest_event` bounds the first; see
    replaydeck.budget). With `quiet`, the tail ends once the session is abandoned.
    """
    with hub.subscribe(session_id) as subscription:
        cursor = after
        size = PageSize(page_size, largest=largest_event)
        while True:
            limit = size.limit
            try:
                events = await subscription.read(
                    lambda after, limit: store.read(session_id, after=after, limit=limit),
                    cursor,
                    limit,
                )
            except StoreUnavailable:
                # The database is down (a restart, a failover): keep the client
                # with keep-alives and read again until it is back, instead of
                # dropping every open stream at once.
                yield HEARTBEAT
                await asyncio.sleep(outage_retry)
                continue
            if events:
                sizes = list(map(len, map(_ENVELOPE, events)))
                keep = size.keep(sizes)
                more = keep < len(events) or len(events) == limit
                # A shared read: other followers hold the same list, so cut a copy.
                events = events[:keep] if keep < len(events) else events
                # A subscriber that is behind gets its backlog coalesced into a few
                # writes of bounded size, rather than one send per event or one per page.
                start = 0
                for stop in runs(sizes[:keep]):
                    yield b"".join(
                        [encode_event(e.seq, e.type, e.envelope) for e in events[start:stop]]
                    )
                    start = stop
                cursor = events[-1].seq
                if events[-1].type == "final":
                    return
                if quiet is not None:
                    quiet.saw(max(map(_TS, events)))
                if more:
                    continue
            if quiet is not None and subscription.watermark <= cursor and quiet.abandoned():
                return
            while True:
                wake = await subscription.wait(cursor)
                if wake is Wake.GONE:
                    return
                if wake is Wake.NEW_EVENTS:
                    if quiet is not None:
                        quiet.moved = True
                    recent = subscription.frames_after(cursor)
                    if recent is None:
                        break  # not in the hub's window: read the log
                    # Frames encoded once for every follower; all this one is
                    # missing goes out in one write (the window is 64 KiB).
                    chunk, cursor, final = recent
                    yield chunk
                    if final:
                        return
                    continue
                if quiet is not None and quiet.abandoned():
                    return
                yield HEARTBEAT
