"""Reading sessions and their logs for the API."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from operator import attrgetter
from typing import Any

from replaydeck.budget import PageSize, runs, within
from replaydeck.store.base import EventStore, SessionRecord, StoredEvent

_ENVELOPE = attrgetter("envelope")


# What a session list counts as its errors: the user-facing `error` events.
ERROR_TYPES = ("error",)


async def error_counts(store: EventStore, records: list[SessionRecord]) -> dict[str, int]:
    """Each session's count of error events (absent: none)."""
    return await store.count_types([record.id for record in records], ERROR_TYPES)


def new_session_id() -> str:
    return "s_" + secrets.token_hex(8)


def page_body(events: list[StoredEvent], limit: int) -> bytes:
    """A JSON page built from stored envelopes without decoding them.

    A page stops at about PAGE_BYTES even before `limit` events (next_after then
    says where to go on): a reader that never reads its response must not hold
    the server to 1000 events of 256 KiB each.
    """
    keep = within(list(map(len, map(_ENVELOPE, events))))
    more = keep < len(events) or len(events) == limit
    events = events[:keep]
    next_after = events[-1].seq if more and events else None
    tail = b"null" if next_after is None else str(next_after).encode()
    return b'{"events":[' + b",".join(e.envelope for e in events) + b'],"next_after":' + tail + b"}"


async def ndjson_lines(
    store: EventStore,
    session_id: str,
    *,
    after: int,
    limit: int | None,
    page_size: int,
    largest_event: int = 0,
) -> AsyncIterator[bytes]:
    """The log after `after` as NDJSON, in pages and writes of bounded size (replaydeck.budget)."""
    cursor = after
    remaining = limit
    size = PageSize(page_size, largest=largest_event)
    while remaining is None or remaining > 0:
        ask = size.limit if remaining is None else min(size.limit, remaining)
        events = await store.read(session_id, after=cursor, limit=ask)
        if not events:
            return
        sizes = list(map(len, map(_ENVELOPE, events)))
        keep = size.keep(sizes)
        start = 0
        for stop in runs(sizes[:keep]):
            yield b"".join([e.envelope + b"\n" for e in events[start:stop]])
            start = stop
        cursor = events[keep - 1].seq
        if remaining is not None:
            remaining -= keep
        if keep == len(events) < ask:
            return


def session_links(session_id: str) -> dict[str, Any]:
    base = f"/v1/sessions/{session_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "stream": f"{base}/stream",
        "replay": f"{base}/replay",
    }
