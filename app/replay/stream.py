"""Timed replay of a stored session as SSE frames."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson

from app.errors import StoreUnavailable
from app.live.hub import Hub, Wake
from app.replay.clock import Clock
from app.replay.pacing import Pacer
from app.sse import HEARTBEAT, encode_event, encode_frame
from app.store.base import EventStore


@dataclass(frozen=True)
class ReplayParams:
    speed: float | None = 1.0  # None: as fast as possible
    from_seq: int = 1
    to_seq: int | None = None
    types: frozenset[str] | None = None
    max_gap_ms: float | None = None


def end_frame(reason: str, count: int) -> bytes:
    return encode_frame(orjson.dumps({"reason": reason, "count": count}), event="replay.end")


async def replay_frames(
    store: EventStore,
    hub: Hub,
    clock: Clock,
    session_id: str,
    params: ReplayParams,
    *,
    page_size: int,
    heartbeat_interval: float,
    final_seq: int | None = None,
    outage_retry: float = 1.0,
) -> AsyncIterator[bytes]:
    """Replay what is stored at its recorded pace, then follow live at the same pace.

    Events are due at start + (offset - first offset) / speed. Filtered types
    are skipped without moving anyone's deadline. A session still being written
    is followed until its `final` (or `to`), each new event due by its own
    offset, so a replay at speed 1 trails the live session by a fixed lag.
    """
    pacer: Pacer | None = None
    sent = 0
    cursor = params.from_seq - 1
    with hub.subscribe(session_id) as subscription:
        while True:
            try:
                events = await store.read(session_id, after=cursor, limit=page_size)
            except StoreUnavailable:
                # As the live tail does: hold the client through a database
                # restart with keep-alives, and carry on where it left off.
                yield HEARTBEAT
                await clock.sleep_until(clock.now() + outage_retry)
                continue
            pending: list[bytes] = []
            for event in events:
                if params.to_seq is not None and event.seq > params.to_seq:
                    break
                if pacer is None:
                    pacer = Pacer(
                        start=clock.now(),
                        speed=params.speed,
                        max_gap_ms=params.max_gap_ms,
                    )
                due = pacer.due(event.ts_us)
                # At speed=max nothing is ever due later; skipping the clock read
                # per event is a fifth of a catch-up's time (py-spy, bench 6).
                if params.speed is not None and due > clock.now():
                    if pending:
                        yield b"".join(pending)
                        pending = []
                    async for beat in _wait(clock, due, heartbeat_interval):
                        yield beat
                if params.types is None or event.type in params.types:
                    pending.append(encode_event(event.seq, event.type, event.envelope))
                    sent += 1
                cursor = event.seq
                if event.type == "final":
                    pending.append(end_frame("complete", sent))
                    yield b"".join(pending)
                    return
                if params.to_seq is not None and event.seq >= params.to_seq:
                    pending.append(end_frame("range_end", sent))
                    yield b"".join(pending)
                    return
            if pending:
                yield b"".join(pending)
            if len(events) == page_size:
                continue
            if final_seq is not None and cursor >= final_seq:
                # Started past the end of a finished session: nothing to play.
                yield end_frame("complete", sent)
                return
            while True:
                wake = await subscription.wait(cursor)
                if wake is Wake.GONE:
                    return
                if wake is Wake.NEW_EVENTS:
                    break
                yield HEARTBEAT


async def _wait(clock: Clock, deadline: float, heartbeat_interval: float) -> AsyncIterator[bytes]:
    """Sleep until `deadline`, yielding a keep-alive through long idle gaps."""
    while True:
        beat_at = clock.now() + heartbeat_interval
        if deadline <= beat_at:
            await clock.sleep_until(deadline)
            return
        await clock.sleep_until(beat_at)
        yield HEARTBEAT
