"""Timed replay of a stored session as SSE frames."""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from replaydeck.budget import CHUNK_BYTES, runs
from replaydeck.errors import StoreUnavailable
from replaydeck.formats.sse import HEARTBEAT, encode_event, encode_frame
from replaydeck.live.hub import Hub, Wake
from replaydeck.live.idle import Quiet
from replaydeck.replay.clock import Clock
from replaydeck.replay.pacing import Pacer
from replaydeck.replay.pages import PageReader
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
    quiet: Quiet | None = None,
    outage_retry: float = 1.0,
    catchup_pages: int = 4,
) -> AsyncIterator[bytes]:
    """Replay what is stored at its recorded pace, then follow live at the same pace.

    Events are due at start + (offset - first offset) / speed. Filtered types
    are skipped without moving anyone's deadline. A session still being written
    is followed until its `final` (or `to`), each new event due by its own
    offset, so a replay at speed 1 trails the live session by a fixed lag; with
    `quiet`, only while the session is live: once it is abandoned, the replay
    ends as incomplete. At speed=max pages are `catchup_pages` times `page_size`.
    Pages of the log and writes are sized to byte budgets (replaydeck.budget).
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
                page = await pages.read(cursor)
            except StoreUnavailable:
                # As the live tail does: hold the client through a database
                # restart with keep-alives, and carry on where it left off.
                yield HEARTBEAT
                await clock.sleep_until(clock.now() + outage_retry)
                continue
            rows = page.rows
            # Rows are in seq order, so the ones up to `to` are a prefix.
            stop = len(rows) if to_seq is None else bisect.bisect_right(rows, to_seq, key=_seq)
            pending: list[bytes] = []
            if params.speed is None:
                # Nothing to wait for: frame the page a run of about 64 KiB at a
                # time; the last run waits in `pending` for a possible end frame.
                start = 0
                for end in runs(page.sizes[:stop]):
                    if pending:
                        yield b"".join(pending)
                    pending = [
                        encode_event(seq, kind, envelope)
                        for seq, kind, _, envelope in rows[start:end]
                        if types is None or kind in types
                    ]
                    sent += len(pending)
                    start = end
            else:
                pending_bytes = 0
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
                            pending, pending_bytes = [], 0
                        if due - now <= heartbeat_interval:
                            # The usual gap: one sleep, no keep-alive generator.
                            await clock.sleep_until(due)
                        else:
                            async for beat in _wait(clock, due, heartbeat_interval):
                                yield beat
                    elif pending_bytes >= CHUNK_BYTES:
                        # Events due together (or late) go out in bounded writes too.
                        yield b"".join(pending)
                        pending, pending_bytes = [], 0
                    if types is None or kind in types:
                        frame = encode_event(seq, kind, envelope)
                        pending.append(frame)
                        pending_bytes += len(frame)
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
            if page.more:
                continue
            if final_seq is not None and cursor >= final_seq:
                # Started past the end of a finished session: nothing to play.
                yield end_frame("complete", sent)
                return
            if quiet is not None:
                if rows:
                    quiet.saw(max(map(_TS, rows)))
                if subscription.watermark <= cursor and quiet.abandoned():
                    yield end_frame("incomplete", sent)
                    return
            while True:
                wake = await subscription.wait(cursor)
                if wake is Wake.GONE:
                    return
                if wake is Wake.NEW_EVENTS:
                    if quiet is not None:
                        quiet.moved = True
                    break
                if quiet is not None and quiet.abandoned():
                    yield end_frame("incomplete", sent)
                    return
                yield HEARTBEAT


async def already_played(
    store: EventStore, session_id: str, first_seq: int, params: ReplayParams
) -> list[dict[str, Any]]:
    """The envelopes from `first_seq` up to a resumed replay's start that pass its
    `types`: what the client already has, for an encoder that must carry on from there."""
    if params.from_seq <= first_seq:
        return []
    played = await store.read(session_id, after=first_seq - 1, limit=params.from_seq - first_seq)
    types = params.types
    return [event.as_dict() for event in played if types is None or event.type in types]


def _seq(row: EventRow) -> int:
    return row[0]


_TS = itemgetter(2)


async def _wait(clock: Clock, deadline: float, heartbeat_interval: float) -> AsyncIterator[bytes]:
    """Sleep until `deadline`, yielding a keep-alive through long idle gaps."""
    while True:
        beat_at = clock.now() + heartbeat_interval
        if deadline <= beat_at:
            await clock.sleep_until(deadline)
            return
        await clock.sleep_until(beat_at)
        yield HEARTBEAT
