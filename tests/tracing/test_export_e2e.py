"""The running server (real uvicorn, real SQLite) exporting real OTLP to a receiver."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from replaydeck.tracing.document import from_otlp_json
from tests.servers import RunningServer, serve, wait_until
from tests.tracing.receivers import Received, grpc_receiver, http_receiver
from tests.tracing.tracing_helpers import ts

PRODUCER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01"


def agent_events() -> list[dict[str, object]]:
    return [
        {"type": "status", "data": {"label": "thinking"}, "ts": ts(0)},
        {"type": "message.delta", "data": {"text": "Let me look."}, "ts": ts(100)},
        {
            "type": "tool.call",
            "data": {"name": "web.search", "args": {"q": "sse"}, "call_id": "c1"},
            "ts": ts(1000),
        },
        {
            "type": "tool.result",
            "data": {"name": "web.search", "call_id": "c1", "result": {"hits": 3}},
            "ts": ts(1250),
        },
        {"type": "message.delta", "data": {"text": "Found 3."}, "ts": ts(1300)},
        {
            "type": "final",
            "data": {"usage": {"input_tokens": 9, "output_tokens": 4}},
            "ts": ts(1400),
        },
    ]


@pytest.fixture(params=["http/protobuf", "grpc"])
def exporting(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, app: FastAPI
) -> Iterator[tuple[RunningServer, Received]]:
    receiver = http_receiver if request.param == "http/protobuf" else grpc_receiver
    with receiver() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", request.param)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "replaydeck-under-test")
        # Export promptly instead of every 5 s, so tests wait for spans, not a timer.
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
        with serve(app) as server:
            yield server, received


def spans_by_name(received: Received, count: int) -> dict[str, Span]:
    wait_until(lambda: len(received.spans()) >= count, timeout=10)
    spans = received.spans()
    assert len(spans) == count
    return {span.name: span for span in spans}


def test_session_trace_joins_the_producers_trace_with_real_tool_durations(
    exporting: tuple[RunningServer, Received],
) -> None:
    server, received = exporting
    with httpx.Client(base_url=server.url) as client:
        created = client.post(
            "/v1/sessions", json={"id": "s-e2e"}, headers={"traceparent": TRACEPARENT}
        )
        assert created.status_code == 201
        assert created.json()["trace_id"] == PRODUCER_TRACE
        # Sent in two requests: spans must not depend on batch boundaries.
        events = agent_events()
        assert client.post("/v1/sessions/s-e2e/events", json=events[:3]).status_code == 200
        assert client.post("/v1/sessions/s-e2e/events", json=events[3:]).status_code == 200
        stored = client.get("/v1/sessions/s-e2e/events").json()["events"]
        document = client.get("/v1/sessions/s-e2e/trace").json()

    spans = spans_by_name(received, 4)
    assert set(spans) == {
        "invoke_agent s-e2e",
        "message #1",
        "message #2",
        "execute_tool web.search",
    }
    root, tool = spans["invoke_agent s-e2e"], spans["execute_tool web.search"]
    assert tool.end_time_unix_nano - tool.start_time_unix_nano == pytest.approx(250e6, abs=1e6)
    assert tool.parent_span_id == root.span_id
    assert root.trace_id.hex() == PRODUCER_TRACE
    assert root.parent_span_id.hex() == PRODUCER_SPAN
    assert {span.trace_id.hex() for span in spans.values()} == {PRODUCER_TRACE}
    assert received.resource_attributes()["service.name"] == "replaydeck-under-test"

    # Links both ways: every stored envelope names the exported span it belongs to.
    exported_ids = {span.span_id.hex() for span in spans.values()}
    assert {event["trace_id"] for event in stored} == {PRODUCER_TRACE}
    assert {event["span_id"] for event in stored} == exported_ids
    call = next(event for event in stored if event["type"] == "tool.call")
    assert call["span_id"] == tool.span_id.hex()

    # The /trace document is the same trace, rebuilt from the log.
    (resource_spans,) = from_otlp_json(document).resource_spans
    rebuilt = {span.name: span for span in resource_spans.scope_spans[0].spans}
    assert {name: s.span_id for name, s in rebuilt.items()} == {
        name: s.span_id for name, s in spans.items()
    }


def test_traceparent_on_the_first_append_creates_the_session_in_that_trace(
    exporting: tuple[RunningServer, Received],
) -> None:
    server, received = exporting
    with httpx.Client(base_url=server.url) as client:
        response = client.post(
            "/v1/sessions/s-implicit/events",
            json=agent_events(),
            headers={"traceparent": TRACEPARENT},
        )
        assert response.status_code == 200
        assert client.get("/v1/sessions/s-implicit").json()["trace_id"] == PRODUCER_TRACE
    root = spans_by_name(received, 4)["invoke_agent s-implicit"]
    assert root.parent_span_id.hex() == PRODUCER_SPAN
