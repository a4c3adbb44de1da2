"""Reading sessions and their logs for the API."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

from replaydeck.errors import InvalidParameter
from replaydeck.store.base import EventStore, StoredEvent


def new_session_id() -> str:
    return "s_" + secrets.token_hex(8)


def parse_metadata_filters(pairs: list[str]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidParameter(
                f"The metadata filter {pair[:60]!r} is not key=value; write e.g. "
                "?metadata=user=alice (repeat it to combine filters)."
            )
        if "\x00" in pair:
            # PostgreSQL text cannot hold NUL, so no metadata there holds it; both
            # backends refuse it alike rather than one failing in its driver.
            raise InvalidParameter(
                f"The metadata filter {pair[:60]!r} contains a NUL character; metadata "
                "filters cannot search for NUL, so remove it."
            )
        filters[key] = value
    return filters


def page_body(events: list[StoredEvent], limit: int) -> bytes:
    """A JSON page built from stored envelopes without decoding them."""
    next_after = events[-1].seq if len(events) == limit and events else None
    tail = b"null" if next_after is None else str(next_after).encode()
    return b'{"events":[' + b",".join(e.envelope for e in events) + b'],"next_after":' + tail + b"}"


async def ndjson_lines(
    store: EventStore, session_id: str, *, after: int, limit: int | None, page_size: int
) -> AsyncIterator[bytes]:
    cursor = after
    remaining = limit
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        events = await store.read(session_id, after=cursor, limit=size)
        if not events:
            return
        yield b"".join(e.envelope + b"\n" for e in events)
        cursor = events[-1].seq
        if remaining is not None:
            remaining -= len(events)
        if len(events) < size:
            return


def session_links(session_id: str) -> dict[str, Any]:
    base = f"/v1/sessions/{session_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "stream": f"{base}/stream",
        "replay": f"{base}/replay",
    }
