"""The pure event → span mapping, observed through the SDK's InMemorySpanExporter."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from replaydeck.tracing.assign import SessionStamps, SpanAssigner, SpanRef
from replaydeck.tracing.ids import TraceOrigin, derive_span_id, span_id_hex, trace_id_hex
from replaydeck.tracing.mapping import Outcome, SessionInfo, SessionSpans
from tests.tracing.tracing_helpers import Timeline, ns, stamped

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331


def run(
    events: Iterable[Mapping[str, Any]],
    *,
    origin: TraceOrigin | None = None,
    finish: Outcome | None = None,
) -> dict[str, ReadableSpan]:
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    spans = SessionSpans(SessionInfo("s-1", origin or TraceOrigin(TRACE_ID)))
    for event in events:
        for span in spans.feed(event):
            processor.on_end(span)
    if finish is not None:
        for span in spans.finish(finish):
            processor.on_end(span)
    finished = exporter.get_finished_spans()
    by_name = {span.name: span for span in finished}
    assert len(by_name) == len(finished), "span names in these tests are unique"
    return by_name


def duration_ms(span: ReadableSpan) -> float:
    assert span.start_time is not None
    assert span.end_time is not None
    return (span.end_time - span.start_time) / 1_000_000


def agent_session() -> Timeline:
    t = Timeline()
    t.add(0, "status", label="thinking")
    t.add(100, "message.delta", text="Let me ", message_id="m1")
    t.add(120, "message.delta", text="search.", message_id="m1")
    t.add(1000, "tool.call", name="web.search", args={"q": "sse"}, call_id="c1")
    t.add(1250, "tool.result", name="web.search", call_id="c1", result={"hits": 3})
    t.add(1300, "message.delta", text="Found ", message_id="m2")
    t.add(1340, "message.delta", text="three", message_id="m2")
    t.add(1400, "message.delta", text=" hits.", message_id="m2")
    t.add(1500, "final", usage={"input_tokens": 12, "output_tokens": 34})
    return t


def test_tool_span_is_a_child_of_the_root_and_lasts_the_gap_between_call_and_result() -> None:
    spans = run(agent_session().events)
    root, tool = spans["invoke_agent s-1"], spans["execute_tool web.search"]
    assert root.parent is None
    assert tool.parent is not None
    assert tool.parent.span_id == root.context.span_id
    assert tool.context.trace_id == root.context.trace_id == TRACE_ID
    assert duration_ms(tool) == pytest.approx(250, abs=1)
    assert tool.start_time == ns(1000)
    assert tool.attributes is not None
    assert tool.attributes["gen_ai.tool.name"] == "web.search"
    assert tool.attributes["gen_ai.tool.call.id"] == "c1"
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"q":"sse"}'
    assert tool.status.status_code is StatusCode.UNSET


def test_root_spans_first_event_to_final_and_carries_usage_and_replay_path() -> None:
    root = run(agent_session().events)["invoke_agent s-1"]
    assert root.start_time == ns(0)
    assert duration_ms(root) == pytest.approx(1500, abs=1)
    assert root.attributes is not None
    assert root.attributes["gen_ai.conversation.id"] == "s-1"
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.usage.input_tokens"] == 12
    assert root.attributes["gen_ai.usage.output_tokens"] == 34
    assert root.attributes["replaydeck.replay.path"] == "/v1/sessions/s-1/replay"
    assert root.attributes["replaydeck.outcome"] == "complete"
    assert [e.name for e in root.events] == ["status"]
    assert root.events[0].attributes == {"replaydeck.status.label": "thinking", "replaydeck.seq": 1}


def test_one_message_span_per_message_with_deltas_as_events_and_chunk_telemetry() -> None:
    spans = run(agent_session().events)
    assert sorted(spans) == [
        "execute_tool web.search",
        "invoke_agent s-1",
        "message m1",
        "message m2",
    ]
    m2 = spans["message m2"]
    assert [e.attributes["replaydeck.delta.text"] for e in m2.events if e.attributes] == [
        "Found ",
        "three",
        " hits.",
    ]
    # The message starts when the model could start talking: the tool result at 1250.
    assert m2.start_time == ns(1250)
    assert m2.end_time == ns(1400)
    attrs = m2.attributes
    assert attrs is not None
    assert attrs["replaydeck.stream.chunk_count"] == 3
    assert attrs["replaydeck.stream.chars"] == 17
    assert attrs["replaydeck.stream.time_to_first_chunk_ms"] == pytest.approx(50)
    assert attrs["replaydeck.stream.duration_ms"] == pytest.approx(100)
    # Gaps are 40 and 60 ms: linear interpolation gives p50 = 50, p95 = 59.
    assert attrs["replaydeck.stream.inter_chunk_gap_p50_ms"] == pytest.approx(50)
    assert attrs["replaydeck.stream.inter_chunk_gap_p95_ms"] == pytest.approx(59)
    assert attrs["replaydeck.stream.chars_per_second"] == pytest.approx(170)


def test_unnamed_deltas_group_by_run_and_status_does_not_split_a_message() -> None:
    t = Timeline()
    t.add(0, "message.delta", text="a")
    t.add(10, "status", label="still typing")
    t.add(20, "message.delta", text="b")
    t.add(30, "tool.call", name="calc", args={}, call_id="x")
    t.add(40, "tool.result", name="calc", call_id="x", result=1)
    t.add(50, "message.delta", text="c")
    spans = run(t.events, finish=Outcome.IN_PROGRESS)
    first, second = spans["message #1"], spans["message #2"]
    assert len(first.events) == 2
    assert len(second.events) == 1
    assert first.attributes is not None
    # The first message opens the session: there is nothing to measure first chunk from.
    assert "replaydeck.stream.time_to_first_chunk_ms" not in first.attributes
    assert "replaydeck.stream.inter_chunk_gap_p50_ms" in first.attributes


def test_the_users_message_is_a_readable_root_event_that_starts_the_next_answer() -> None:
    t = Timeline()
    t.add(0, "user.message", text="What is SSE?", message_id="u1")
    t.add(400, "message.delta", text="Server-Sent ")
    t.add(450, "message.delta", text="Events.")
    parts = [{"type": "text", "text": "And this?"}, {"type": "image", "url": "https://x/y.png"}]
    t.add(2000, "user.message", text="And this?", content=parts)
    t.add(2300, "message.delta", text="A diagram.")
    t.add(2400, "final")
    spans = run(t.events)
    root = spans["invoke_agent s-1"]
    asked = [e for e in root.events if e.name == "user.message"]
    assert [dict(e.attributes or {}) for e in asked] == [
        {
            "replaydeck.user_message.text": "What is SSE?",
            "replaydeck.user_message.id": "u1",
            "replaydeck.seq": 1,
        },
        {
            "replaydeck.user_message.text": "And this?",
            "replaydeck.user_message.content": json.dumps(parts, separators=(",", ":")),
            "replaydeck.seq": 4,
        },
    ]
    assert [e.timestamp for e in asked] == [ns(0), ns(2000)]
    # Each answer is its own message, timed from the question that started it.
    first, second = spans["message #1"], spans["message #2"]
    assert [len(first.events), len(second.events)] == [2, 1]
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["replaydeck.stream.time_to_first_chunk_ms"] == pytest.approx(400)
    assert second.attributes["replaydeck.stream.time_to_first_chunk_ms"] == pytest.approx(300)


def test_is_error_result_sets_error_status_on_the_tool_span() -> None:
    t = Timeline()
    t.add(0, "tool.call", name="db.query", args={}, call_id="c9")
    t.add(5, "tool.result", name="db.query", call_id="c9", result="timeout", is_error=True)
    t.add(6, "final")
    tool = run(t.events)["execute_tool db.query"]
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes is not None
    assert tool.attributes["error.type"] == "tool_error"


def test_error_event_records_an_exception_and_marks_the_root() -> None:
    t = Timeline()
    t.add(0, "status", label="working")
    t.add(10, "error", message="The model is overloaded", code="overloaded")
    t.add(20, "final")
    root = run(t.events)["invoke_agent s-1"]
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == "The model is overloaded"
    exception = next(e for e in root.events if e.name == "exception")
    assert exception.attributes == {
        "exception.type": "overloaded",
        "exception.message": "The model is overloaded",
        "replaydeck.seq": 2,
    }


def test_traceparent_origin_makes_the_root_a_child_of_the_producers_span() -> None:
    origin = TraceOrigin.from_traceparent(
        f"00-{trace_id_hex(TRACE_ID)}-{span_id_hex(PARENT_ID)}-01"
    )
    assert origin == TraceOrigin(TRACE_ID, PARENT_ID)
    root = run(agent_session().events, origin=origin)["invoke_agent s-1"]
    assert root.parent is not None
    assert root.parent.span_id == PARENT_ID
    assert root.parent.trace_id == TRACE_ID
    assert root.parent.is_remote


@pytest.mark.parametrize("header", [None, "", "garbage", "00-" + "0" * 32 + "-" + "1" * 16 + "-01"])
def test_invalid_traceparent_is_ignored(header: str | None) -> None:
    assert TraceOrigin.from_traceparent(header) is None


def test_idle_session_ends_open_spans_abandoned_at_its_last_event() -> None:
    t = Timeline()
    t.add(0, "message.delta", text="hi")
    t.add(100, "tool.call", name="slow", args={}, call_id="c1")
    spans = run(t.events, finish=Outcome.ABANDONED)
    root, tool = spans["invoke_agent s-1"], spans["execute_tool slow"]
    for span in (root, tool):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is not None
        assert span.status.description.startswith("abandoned")
        assert span.attributes is not None
        assert span.attributes["replaydeck.outcome"] == "abandoned"
        assert span.end_time == ns(100)


def test_spans_finish_as_events_arrive_not_all_at_the_end() -> None:
    t = agent_session()
    spans = SessionSpans(SessionInfo("s-1", TraceOrigin(TRACE_ID)))
    finished_by = [[s.name for s in spans.feed(e)] for e in t.events]
    assert finished_by[3] == ["message m1"]  # the tool call ends the first message
    assert finished_by[4] == ["execute_tool web.search"]
    assert finished_by[8] == ["message m2", "invoke_agent s-1"]
    assert spans.feed(t.add(1600, "status", label="late")) == []


def test_stamps_name_the_span_each_event_will_belong_to() -> None:
    t = agent_session()
    spans = SessionSpans(SessionInfo("s-1", TraceOrigin(TRACE_ID)))
    stamps = SessionStamps(SpanAssigner(TRACE_ID))
    envelopes = stamped(stamps, t.events)
    exported = {}
    for event in envelopes:
        for span in spans.feed(event):
            exported[span.context.span_id] = span
    for event in envelopes:
        assert event["trace_id"] == trace_id_hex(TRACE_ID)
        assert int(event["span_id"], 16) in exported
    by_type = {e["type"]: e["span_id"] for e in envelopes}
    assert exported[int(by_type["tool.call"], 16)].name == "execute_tool web.search"
    assert by_type["tool.call"] == by_type["tool.result"]
    assert by_type["status"] == by_type["final"] == span_id_hex(spans.assigner.root_span_id)


def test_span_ids_are_deterministic_so_a_rebuilt_mapping_names_the_same_spans() -> None:
    events = agent_session().events
    first = stamped(SessionStamps(SpanAssigner(TRACE_ID)), events)
    second = stamped(SessionStamps(SpanAssigner(TRACE_ID)), events)
    assert first == second
    assert len({e["span_id"] for e in first}) == 4  # root, two messages, one tool


def test_reused_call_id_and_resumed_message_get_distinct_spans() -> None:
    t = Timeline()
    for start in (0, 100):
        t.add(start, "message.delta", text="x", message_id="m")
        t.add(start + 10, "tool.call", name="f", args={}, call_id="c")
        t.add(start + 20, "tool.result", name="f", call_id="c", result=None)
    t.add(300, "final")
    spans = SessionSpans(SessionInfo("s-1", TraceOrigin(TRACE_ID)))
    finished = [s for e in t.events for s in spans.feed(e)]
    names = [s.name for s in finished]
    assert names.count("execute_tool f") == 2
    assert names.count("message m") == 2
    assert len({s.context.span_id for s in finished}) == len(finished) == 5
    envelopes = stamped(SessionStamps(SpanAssigner(TRACE_ID)), t.events)
    assert len({e["span_id"] for e in envelopes}) == 5


def test_unmatched_tool_result_is_a_zero_length_span() -> None:
    t = Timeline()
    t.add(0, "tool.result", name="f", call_id="nope", result=1)
    tool = run(t.events, finish=Outcome.IN_PROGRESS)["execute_tool f"]
    assert tool.start_time == tool.end_time == ns(0)
    assert tool.attributes is not None
    assert tool.attributes["replaydeck.tool.unmatched"] is True


def test_many_deltas_are_capped_as_events_but_fully_counted() -> None:
    t = Timeline()
    for i in range(30):
        t.add(i, "message.delta", text="ab")
    spans = SessionSpans(SessionInfo("s-1", TraceOrigin(TRACE_ID)), max_events_per_span=10)
    for event in t.events:
        spans.feed(event)
    message = next(s for s in spans.finish(Outcome.IN_PROGRESS) if s.name == "message #1")
    assert len(message.events) == 10
    assert message.attributes is not None
    assert message.attributes["replaydeck.stream.chunk_count"] == 30
    assert message.attributes["replaydeck.stream.chars"] == 60
    assert message.attributes["replaydeck.dropped_events"] == 20


def test_a_draft_moves_the_stamps_on_only_when_committed() -> None:
    t = Timeline()
    call = t.add(0, "tool.call", name="f", args={}, call_id="c")
    again = t.add(5, "tool.call", name="f", args={}, call_id="c")
    stamps = SessionStamps(SpanAssigner(TRACE_ID))
    rolled_back = stamped(stamps, [call], commit=False)
    (first,) = stamped(stamps, [call])
    assert first == rolled_back[0]  # the rolled-back transaction left no trace
    (second,) = stamped(stamps, [again])
    assert second["span_id"] != first["span_id"]  # the second use of "c" is a new span


# -- the stamp is the span's identity ---------------------------------------------------


class NoAssigner(SpanAssigner):
    """Fails the test if the mapping derives an id for an event that carries one."""

    def assign(self, kind: Any, data: Any) -> SpanRef:
        raise AssertionError(f"the mapping ran the assigner on a stamped {kind}")


def every_kind_of_turn() -> Timeline:
    """Named and unnamed messages, a message resumed after its tool, a status inside a
    message, a reused call id, a result without its call, an error."""
    t = Timeline()
    t.add(0, "message.delta", text="a")
    t.add(10, "status", label="typing")
    t.add(20, "message.delta", text="b")
    t.add(30, "message.delta", text="c", message_id="m")
    t.add(40, "tool.call", name="f", args={}, call_id="c")
    t.add(50, "tool.result", name="f", call_id="c", result=1)
    t.add(60, "message.delta", text="d", message_id="m")
    t.add(70, "message.delta", text="e", message_id="n")
    t.add(80, "tool.call", name="g", args={}, call_id="c")
    t.add(90, "error", message="boom")
    t.add(100, "message.delta", text="f")
    t.add(110, "tool.result", name="h", call_id="orphan", result=None)
    t.add(120, "tool.result", name="g", call_id="c", result=2)
    t.add(130, "custom.note", note="x")
    t.add(140, "message.delta", text="g")
    t.add(150, "final", usage={"input_tokens": 1})
    return t


def exported(events: Iterable[Mapping[str, Any]], spans: SessionSpans) -> list[ReadableSpan]:
    return [span for event in events for span in spans.feed(event)]


def described(spans: list[ReadableSpan]) -> list[tuple[Any, ...]]:
    return [
        (
            s.context.span_id,
            s.parent.span_id if s.parent else None,
            s.name,
            s.start_time,
            s.end_time,
            dict(s.attributes or {}),
            [(e.name, e.timestamp, dict(e.attributes or {})) for e in s.events],
            s.status.status_code,
        )
        for s in spans
    ]


def test_a_stamped_span_id_is_the_spans_id_without_running_the_assigner() -> None:
    t = agent_session()
    envelopes = stamped(SessionStamps(SpanAssigner(TRACE_ID)), t.events)
    # Ids no assigner would derive: the spans are exported under them all the same.
    chosen = {"m1": "00000000000000a1", "c1": "00000000000000c1", "m2": "00000000000000a2"}
    for envelope in envelopes:
        key = envelope["data"].get("message_id") or envelope["data"].get("call_id")
        if key is not None:
            envelope["span_id"] = chosen[key]
    spans = SessionSpans(SessionInfo("s-1", TraceOrigin(TRACE_ID)))
    spans.assigner = NoAssigner(TRACE_ID)
    by_name = {s.name: s for s in exported(envelopes, spans)}
    assert {name: s.context.span_id for name, s in by_name.items()} == {
        "message m1": 0xA1,
        "execute_tool web.search": 0xC1,
        "message m2": 0xA2,
        "invoke_agent s-1": derive_span_id(TRACE_ID, "root"),
    }
    root = by_name["invoke_agent s-1"]
    children = [s for s in by_name.values() if s is not root]
    assert {s.parent.span_id if s.parent else None for s in children} == {root.context.span_id}
    m2 = by_name["message m2"]
    assert m2.attributes is not None
    assert m2.attributes["replaydeck.message.id"] == "m2"
    assert m2.attributes["replaydeck.message.index"] == 2
    assert (m2.start_time, m2.end_time) == (ns(1250), ns(1400))
    assert duration_ms(by_name["execute_tool web.search"]) == pytest.approx(250, abs=1)


def test_unstamped_envelopes_get_the_ids_the_store_would_have_stamped() -> None:
    legacy = agent_session().events  # stored before stamping existed: no span_id
    assert all("span_id" not in e for e in legacy)
    by_name = {s.name: s.context.span_id for s in exported(legacy, run_spans())}
    assert by_name == {
        "message m1": derive_span_id(TRACE_ID, "message", "m1", "1"),
        "execute_tool web.search": derive_span_id(TRACE_ID, "tool", "c1", "1"),
        "message m2": derive_span_id(TRACE_ID, "message", "m2", "1"),
        "invoke_agent s-1": derive_span_id(TRACE_ID, "root"),
    }
    stamps = {e["span_id"] for e in stamped(SessionStamps(SpanAssigner(TRACE_ID)), legacy)}
    assert {span_id_hex(span_id) for span_id in by_name.values()} == stamps


@pytest.mark.parametrize("stamped_from", [0, 5, 9, 16])
def test_stamped_unstamped_and_upgraded_sessions_make_the_same_spans(stamped_from: int) -> None:
    events = every_kind_of_turn().events
    legacy = described(exported(events, run_spans()))
    # A session stored before stamping existed and appended to since: the first events
    # carry no stamp, the later ones the stamper's, seeded from the stored ones.
    stamps = SessionStamps(SpanAssigner(TRACE_ID))
    everything = stamped(stamps, events)
    upgraded = events[:stamped_from] + everything[stamped_from:]
    assert described(exported(upgraded, run_spans())) == legacy
    names = [span[2] for span in legacy]
    assert names.count("execute_tool g") == names.count("execute_tool f") == 1
    assert {"message #1", "message m", "message n", "message #5", "message #6"} <= set(names)
    assert len({span[0] for span in legacy}) == len(legacy) == 10


def run_spans() -> SessionSpans:
    return SessionSpans(SessionInfo("s-1", TraceOrigin(TRACE_ID)))
