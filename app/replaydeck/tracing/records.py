"""From stored sessions to the mapping's inputs (shared by the live store and /trace)."""

from __future__ import annotations

from typing import Any

from replaydeck.store.base import EventStore, SessionRecord
from replaydeck.tracing.ids import TraceOrigin, derive_trace_id, parse_hex_id
from replaydeck.tracing.mapping import SessionInfo


def origin_of(record: SessionRecord) -> TraceOrigin:
    trace_id = parse_hex_id(record.trace_id, width=32)
    if trace_id is None:
        # A session stored before tracing was wired in has no trace id; derive a stable one
        # so its spans and its /trace document always agree.
        trace_id = derive_trace_id(record.id)
    joined = TraceOrigin.from_traceparent(record.traceparent)
    parent = joined.parent_span_id if joined is not None and joined.trace_id == trace_id else None
    return TraceOrigin(trace_id=trace_id, parent_span_id=parent)


def session_info(record: SessionRecord) -> SessionInfo:
    # An app may name its agent in the session metadata; the root span is then
    # `invoke_agent {name}` as in the GenAI conventions, else the session id stands in.
    agent = record.metadata.get("agent_name") or record.metadata.get("agent")
    return SessionInfo(
        session_id=record.id,
        origin=origin_of(record),
        agent_name=agent if isinstance(agent, str) and agent else None,
    )


async def read_all(
    store: EventStore,
    session_id: str,
    *,
    after: int = 0,
    before: int | None = None,
    page_size: int = 500,
) -> list[dict[str, Any]]:
    """Stored envelopes with after < seq (< before), read page by page."""
    events: list[dict[str, Any]] = []
    cursor = after
    while True:
        page = await store.read(session_id, after=cursor, limit=page_size)
        for stored in page:
            if before is not None and stored.seq >= before:
                return events
            events.append(stored.as_dict())
        if len(page) < page_size:
            return events
        cursor = page[-1].seq
