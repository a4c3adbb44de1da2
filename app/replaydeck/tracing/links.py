"""The trace id a session shows in the API, and its Jaeger link."""

from __future__ import annotations

from replaydeck.store.base import SessionRecord
from replaydeck.tracing.ids import trace_id_hex
from replaydeck.tracing.records import origin_of


def session_trace_id(record: SessionRecord) -> str:
    """The stored trace id, or for a session recorded without one the id its /trace
    document uses, so the API and the document always name the same trace."""
    return record.trace_id or trace_id_hex(origin_of(record).trace_id)


def jaeger_trace_url(jaeger_url: str | None, trace_id: str) -> str | None:
    """`{REPLAYDECK_JAEGER_URL}/trace/{trace_id}`, the Jaeger UI page of one trace."""
    if not jaeger_url:
        return None
    return f"{jaeger_url.rstrip('/')}/trace/{trace_id}"
