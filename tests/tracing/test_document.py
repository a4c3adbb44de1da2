"""A stored session's OTLP JSON document: valid under the protobuf JSON mapping, with
OTLP's hex ids; and the trace id and Jaeger link the API shows for a session."""

from __future__ import annotations

import orjson
from opentelemetry.sdk.resources import Resource

from replaydeck.store.base import SessionRecord
from replaydeck.tracing.document import (
    from_otlp_json,
    jaeger_trace_url,
    origin_of,
    session_spans,
    session_trace_id,
    to_otlp_json,
)
from replaydeck.tracing.ids import TraceOrigin, span_id_hex, trace_id_hex
from replaydeck.tracing.mapping import SessionInfo
from tests.tracing.tracing_helpers import T0_NS, Timeline, ns

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
INFO = SessionInfo("s-7", TraceOrigin(TRACE_ID, PARENT_ID))
MINUTE_NS = 60 * 1_000_000_000


def complete_session() -> Timeline:
    t = Timeline()
    t.add(0, "message.delta", text="Looking")
    t.add(40, "tool.call", name="web.search", args={"q": "otlp"}, call_id="c1")
    t.add(290, "tool.result", name="web.search", call_id="c1", result=["a"], is_error=True)
    t.add(300, "final", usage={"input_tokens": 5, "output_tokens": 7})
    return t


def document_of(t: Timeline, *, now_ns: int = T0_NS) -> dict:
    spans = session_spans(
        INFO,
        t.events,
        now_ns=now_ns,
        idle_timeout_s=300,
        resource=Resource({"service.name": "replaydeck"}),
    )
    return to_otlp_json(spans)


def all_spans(document: dict) -> list[dict]:
    return [
        span
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def test_document_parses_back_strictly_into_an_export_request() -> None:
    document = orjson.loads(orjson.dumps(document_of(complete_session())))
    request = from_otlp_json(document)
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "replaydeck"
    spans = {s.name: s for s in resource_spans.scope_spans[0].spans}
    assert set(spans) == {"invoke_agent s-7", "message #1", "execute_tool web.search"}
    root, tool = spans["invoke_agent s-7"], spans["execute_tool web.search"]
    assert root.trace_id == TRACE_ID.to_bytes(16, "big")
    assert root.parent_span_id == PARENT_ID.to_bytes(8, "big")
    assert tool.parent_span_id == root.span_id
    assert tool.end_time_unix_nano - tool.start_time_unix_nano == 250_000_000
    assert tool.status.code == 2  # STATUS_CODE_ERROR
    assert resource_spans.scope_spans[0].scope.name == "replaydeck.tracing"


def test_ids_are_hex_and_nanos_are_strings_as_otlp_json_specifies() -> None:
    spans = {s["name"]: s for s in all_spans(document_of(complete_session()))}
    root = spans["invoke_agent s-7"]
    assert root["traceId"] == trace_id_hex(TRACE_ID)
    assert root["parentSpanId"] == span_id_hex(PARENT_ID)
    assert len(root["spanId"]) == 16
    assert int(root["spanId"], 16)
    assert root["startTimeUnixNano"] == str(ns(0))
    assert root["endTimeUnixNano"] == str(ns(300))
    assert root["kind"] == 1  # SPAN_KIND_INTERNAL, an integer as in OTLP/JSON
    attributes = {a["key"]: a["value"] for a in root["attributes"]}
    assert attributes["gen_ai.usage.output_tokens"] == {"intValue": "7"}
    assert attributes["replaydeck.replay.path"] == {"stringValue": "/v1/sessions/s-7/replay"}


def test_unfinished_session_is_in_progress_until_idle_then_abandoned() -> None:
    t = Timeline()
    t.add(0, "tool.call", name="slow", args={}, call_id="c1")

    def outcome(now_ns: int) -> str:
        root = next(
            s for s in all_spans(document_of(t, now_ns=now_ns)) if s["name"].startswith("invoke")
        )
        attributes = {
            a["key"]: a["value"]["stringValue"]
            for a in root["attributes"]
            if "stringValue" in a["value"]
        }
        return attributes["replaydeck.outcome"]

    assert outcome(T0_NS + MINUTE_NS) == "in_progress"
    assert outcome(T0_NS + 6 * MINUTE_NS) == "abandoned"


def test_stored_span_ids_win_over_recomputed_ones() -> None:
    t = complete_session()
    t.events[1]["span_id"] = t.events[2]["span_id"] = "00000000000000aa"
    spans = {s["name"]: s for s in all_spans(document_of(t))}
    assert spans["execute_tool web.search"]["spanId"] == "00000000000000aa"


def test_empty_session_is_an_empty_document() -> None:
    document = document_of(Timeline())
    assert document == {"resourceSpans": []}
    assert from_otlp_json(document).resource_spans == []


# -- the trace id the API shows, and its Jaeger link --------------------------------


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
