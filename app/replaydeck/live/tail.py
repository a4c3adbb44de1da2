"""The live tail: catch up from the log, then follow the hub's watermark."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from replaydeck.errors import StoreUnavailable
from replaydeck.live.hub import Hub, Wake
from replaydeck.sse import HEARTBEAT, encode_event
from replaydeck.store.base import EventStore


async def tail_frames(
    store: EventStore,
    hub: Hub,
    session_id: str,
    *,
    after: int,
    page_size: int,
    outage_retry: float = 1.0,
) -> AsyncIterator[bytes]:
    """SSE frames of every event after `after`, through `final`.

    Registering with the hub before the first read means a commit that lands
    between our read and our wait still moves the watermark we wait on.
    """
    with hub.subscribe(session_id) as subscription:
        cursor = after
        while True:
            try:
                events = await subscription.read(
                    lambda after, limit: store.read(session_id, after=after, limit=limit),
                    cursor,
                    page_size,
                )
            except StoreUnavailable:
                # The database is down (a restart, a failover): keep the client
                # with keep-alives and read again until it is back, instead of
                # dropping every open stream at once.
                yield HEARTBEAT
                await asyncio.sleep(outage_retry)
                continue
            if events:
                # One write per page: a subscriber that is behind gets its
                # backlog coalesced instead of one send per event.
                yield b"".join(encode_event(e.seq, e.type, e.envelope) for e in events)
                cursor = events[-1].seq
                if events[-1].type == "final":
                    return
                if len(events) == page_size:
                    continue
            while True:
                wake = await subscription.wait(cursor)
                if wake is Wake.GONE:
                    return
                if wake is Wake.NEW_EVENTS:
                    recent = subscription.frames_after(cursor)
                    if recent is None:
                        break  # not in the hub's window: read the log
                    # Frames encoded once for every follower; all this one is
                    # missing goes out in one write.
                    chunk, cursor, final = recent
                    yield chunk
                    if final:
                        return
                    continue
                yield HEARTBEAT
