"""Timed replay of a stored session as SSE frames."""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson

from replaydeck.errors import StoreUnavailable
from replaydeck.live.hub import Hub, Wake
from replaydeck.replay.clock import Clock
from replaydeck.replay.pacing import Pacer
from replaydeck.replay.pages import PageReader
from replaydeck.sse import HEARTBEAT, encode_event, encode_frame
from replaydeck.store.base import EventRow, EventStore


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
    catchup_pages: int = 4,
) -> AsyncIterator[bytes]:
    """Replay what is stored at its recorded pace, then follow live at the same pace.

    Events are due at start + (offset - first offset) / speed. Filtered types
    are skipped without moving anyone's deadline. A session still being written
    is followed until its `final` (or `to`), each new event due by its own
    offset, so a replay at speed 1 trails the live session by a fixed lag.
    At speed=max pages are `catchup_pages` times `page_size`.
    """
    pacer: Pacer | None = None
    sent = 0
    cursor = params.from_seq - 1
    to_seq, types = params.to_seq, params.types
    # Untimed, the replay is bound by reading and framing: larger pages mean
    # fewer trips to the database per event.
    limit = page_size if params.speed is not None else page_size * catchup_pages
    pages = PageReader(store, session_id, limit=limit)
    with hub.subscribe(session_id) as subscription, contextlib.closing(pages):
        while True:
            try:
                rows = await pages.read(cursor)
            except StoreUnavailable:
                # As the live tail does: hold the client through a database
                # restart with keep-alives, and carry on where it left off.
                yield HEARTBEAT
                await clock.sleep_until(clock.now() + outage_retry)
                continue
            # Rows are in seq order, so the ones up to `to` are a prefix.
            stop = len(rows) if to_seq is None else bisect.bisect_right(rows, to_seq, key=_seq)
            if params.speed is None:
                # Nothing to wait for: frame the page in one pass.
                pending = [
                    encode_event(seq, kind, envelope)
                    for seq, kind, _, envelope in rows[:stop]
                    if types is None or kind in types
                ]
                sent += len(pending)
            else:
                pending = []
                for seq, kind, ts_us, envelope in rows[:stop]:
                    if pacer is None:
                        pacer = Pacer(
                            start=clock.now(), speed=params.speed, max_gap_ms=params.max_gap_ms
                        )
                    due = pacer.due(ts_us)
                    now = clock.now()
                    if due > now:
                        if pending:
                            yield b"".join(pending)
                            pending = []
                        if due - now <= heartbeat_interval:
                            # The usual gap: one sleep, no keep-alive generator.
                            await clock.sleep_until(due)
                        else:
                            async for beat in _wait(clock, due, heartbeat_interval):
                                yield beat
                    if types is None or kind in types:
                        pending.append(encode_event(seq, kind, envelope))
                        sent += 1
            if stop:
                cursor, last_kind = rows[stop - 1][0], rows[stop - 1][1]
                # `final` is always a session's last event: the store refuses
                # appends after it, so only the last row played can be one.
                if last_kind == "final":
                    pending.append(end_frame("complete", sent))
                    yield b"".join(pending)
                    return
                if to_seq is not None and cursor >= to_seq:
                    pending.append(end_frame("range_end", sent))
                    yield b"".join(pending)
                    return
            if pending:
                yield b"".join(pending)
            if len(rows) == limit:
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


def _seq(row: EventRow) -> int:
    return row[0]


async def _wait(clock: Clock, deadline: float, heartbeat_interval: float) -> AsyncIterator[bytes]:
    """Sleep until `deadline`, yielding a keep-alive through long idle gaps."""
    while True:
        beat_at = clock.now() + heartbeat_interval
        if deadline <= beat_at:
            await clock.sleep_until(deadline)
            return
        await clock.sleep_until(beat_at)
        yield HEARTBEAT
