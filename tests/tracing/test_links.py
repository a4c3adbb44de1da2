from __future__ import annotations

from replaydeck.store.base import SessionRecord
from replaydeck.tracing.links import jaeger_trace_url, session_trace_id
from replaydeck.tracing.records import origin_of


def record(trace_id: str | None, traceparent: str | None = None) -> SessionRecord:
    return SessionRecord(
        id="s-1",
        created_at_us=0,
        metadata={},
        status="open",
        last_seq=0,
        trace_id=trace_id,
        traceparent=traceparent,
    )


def test_jaeger_url_joins_base_and_trace_id() -> None:
    assert jaeger_trace_url("http://localhost:16686/", "ab" * 16) == (
        "http://localhost:16686/trace/" + "ab" * 16
    )
    assert jaeger_trace_url(None, "ab" * 16) is None


def test_stored_trace_id_is_shown_and_a_missing_one_is_derived_stably() -> None:
    assert session_trace_id(record("0123456789abcdef0123456789abcdef")) == (
        "0123456789abcdef0123456789abcdef"
    )
    derived = session_trace_id(record(None))
    assert len(derived) == 32
    assert derived == session_trace_id(record(None))
    assert int(derived, 16) == origin_of(record(None)).trace_id


def test_traceparent_of_another_trace_is_not_taken_as_the_parent() -> None:
    other = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    assert origin_of(record("a" * 32, other)).parent_span_id is None
    same = "00-" + "a" * 32 + "-" + "2" * 16 + "-01"
    assert origin_of(record("a" * 32, same)).parent_span_id == int("2" * 16, 16)
