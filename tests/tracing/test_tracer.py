"""The live tracer: spans follow appends, idle sessions are abandoned by an injected clock."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from replaydeck.tracing.assign import SessionStamps, SpanAssigner
from replaydeck.tracing.ids import TraceOrigin
from replaydeck.tracing.mapping import SessionInfo
from replaydeck.tracing.tracer import SessionTracer
from tests.tracing.tracing_helpers import Timeline, stamped

INFO = SessionInfo("s-1", TraceOrigin(0x1234))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter, clock: FakeClock) -> SessionTracer:
    return SessionTracer(SimpleSpanProcessor(exporter), idle_timeout_s=60, clock=clock)


def names(exporter: InMemorySpanExporter) -> list[str]:
    return [span.name for span in exporter.get_finished_spans()]


def test_spans_are_exported_as_the_events_that_finish_them_are_recorded(
    tracer: SessionTracer, exporter: InMemorySpanExporter
) -> None:
    t = Timeline()
    tracer.track(INFO)
    tracer.record("s-1", [t.add(0, "tool.call", name="f", args={}, call_id="c")])
    assert names(exporter) == []
    tracer.record("s-1", [t.add(250, "tool.result", name="f", call_id="c", result=1)])
    assert names(exporter) == ["execute_tool f"]
    tracer.record("s-1", [t.add(300, "final")])
    assert names(exporter) == ["execute_tool f", "invoke_agent s-1"]
    assert not tracer.is_tracking("s-1")


def test_idle_session_is_abandoned_after_the_timeout_and_not_before(
    tracer: SessionTracer, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    t = Timeline()
    tracer.track(INFO)
    tracer.record("s-1", [t.add(0, "tool.call", name="f", args={}, call_id="c")])
    clock.now += 59
    assert tracer.sweep() == []
    clock.now += 2
    assert tracer.sweep() == ["s-1"]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"execute_tool f", "invoke_agent s-1"}
    assert all(s.status.status_code is StatusCode.ERROR for s in spans.values())
    assert not tracer.is_tracking("s-1")


def test_an_idle_session_another_process_went_on_with_is_dropped_without_export(
    tracer: SessionTracer, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    t = Timeline()
    tracer.track(INFO)
    tracer.record("s-1", [t.add(0, "tool.call", name="f", args={}, call_id="c")])
    # Another replica stored the result; this one caught up with it silently.
    tracer.record("s-1", [t.add(10, "tool.result", name="f", call_id="c", result=1)], export=False)
    clock.now += 61
    # That replica holds the session too, and ends it: nothing is exported here.
    assert tracer.idle() == {}
    assert tracer.sweep() == []
    assert names(exporter) == []
    assert tracer.tracking == 0


def test_an_idle_session_is_abandoned_only_if_it_did_not_move_on(
    tracer: SessionTracer, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    t = Timeline()
    tracer.track(INFO)
    tracer.record("s-1", [t.add(0, "tool.call", name="f", args={}, call_id="c")])
    clock.now += 61
    assert tracer.idle() == {"s-1": 1}
    # The log says another replica stored more: forget it, export nothing.
    tracer.drop("s-1", 1)
    assert not tracer.is_tracking("s-1")
    assert names(exporter) == []
    # Back on this replica: rebuilt from the log, then an append of its own.
    tracer.track(INFO, t.events)
    tracer.record("s-1", [t.add(5, "status", label="back")])
    clock.now += 61
    assert tracer.idle() == {"s-1": 2}
    # Fed past the seq the sweep looked at (while it read the log): kept.
    tracer.record("s-1", [t.add(6, "status", label="again")])
    tracer.drop("s-1", 2)
    assert not tracer.abandon("s-1", 2)
    assert tracer.is_tracking("s-1")
    clock.now += 61
    assert tracer.abandon("s-1", 3)
    assert sorted(names(exporter)) == ["execute_tool f", "invoke_agent s-1"]


def test_activity_postpones_abandonment(
    tracer: SessionTracer, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    t = Timeline()
    tracer.track(INFO)
    tracer.record("s-1", [t.add(0, "status", label="a")])
    clock.now += 50
    tracer.record("s-1", [t.add(1, "status", label="b")])
    clock.now += 50
    assert tracer.sweep() == []


def test_rebuilding_from_prior_events_exports_nothing_already_exported(
    tracer: SessionTracer, exporter: InMemorySpanExporter
) -> None:
    t = Timeline()
    t.add(0, "tool.call", name="f", args={}, call_id="c")
    t.add(10, "tool.result", name="f", call_id="c", result=1)
    t.add(20, "tool.call", name="g", args={}, call_id="d")
    tracer.track(INFO, t.events)
    assert names(exporter) == []
    assert tracer.last_seq("s-1") == 3
    tracer.record("s-1", [t.add(30, "tool.result", name="g", call_id="d", result=2)])
    assert names(exporter) == ["execute_tool g"]


def test_without_a_processor_state_is_kept_but_nothing_is_exported() -> None:
    tracer = SessionTracer(None)
    tracer.track(INFO)
    stamps = tracer.stamper("s-1")
    assert stamps is not None
    assert stamps.trace_id_hex == format(0x1234, "032x")
    tracer.record("s-1", Timeline().events)
    assert not tracer.exporting


def test_a_session_resumed_after_abandonment_does_not_export_spans_twice(
    tracer: SessionTracer, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    t = Timeline()
    tracer.track(INFO)
    tracer.record("s-1", [t.add(0, "tool.call", name="f", args={}, call_id="c")])
    clock.now += 61
    assert tracer.sweep() == ["s-1"]
    # The producer comes back: the store rebuilds the state from the log.
    tracer.track(INFO, t.events)
    tracer.record("s-1", [t.add(70_000, "tool.result", name="f", call_id="c", result=1)])
    tracer.record("s-1", [t.add(70_001, "tool.call", name="g", args={}, call_id="d")])
    tracer.record("s-1", [t.add(70_002, "tool.result", name="g", call_id="d", result=2)])
    tracer.record("s-1", [t.add(70_003, "final")])
    assert sorted(names(exporter)) == ["execute_tool f", "execute_tool g", "invoke_agent s-1"]
    assert len({s.context.span_id for s in exporter.get_finished_spans() if s.context}) == 3


@pytest.mark.parametrize("restart_at", range(10))
def test_a_rebuilt_stamper_stamps_on_as_if_nothing_had_stopped(restart_at: int) -> None:
    t = Timeline()
    t.add(0, "message.delta", text="a", message_id="m")
    t.add(10, "tool.call", name="f", args={}, call_id="c")
    t.add(20, "tool.result", name="f", call_id="c", result=1)
    t.add(30, "message.delta", text="b", message_id="m")
    t.add(40, "message.delta", text="c")
    t.add(50, "tool.call", name="f", args={}, call_id="c")
    t.add(60, "status", label="waiting")
    t.add(70, "tool.result", name="f", call_id="c", result=2)
    t.add(80, "message.delta", text="d")
    t.add(90, "final")
    expected = stamped(SessionStamps(SpanAssigner(INFO.origin.trace_id)), t.events)
    # Stored, stamped, by a process that then stopped; a new one rebuilds from the log.
    exporter = InMemorySpanExporter()
    tracer = SessionTracer(SimpleSpanProcessor(exporter))
    tracer.track(INFO, expected[:restart_at])
    stamps = tracer.stamper("s-1")
    assert stamps is not None
    rest = stamped(stamps, t.events[restart_at:])
    assert rest == expected[restart_at:]
    tracer.record("s-1", rest)
    exported = {s.context.span_id for s in exporter.get_finished_spans() if s.context}
    assert exported <= {int(e["span_id"], 16) for e in expected}
