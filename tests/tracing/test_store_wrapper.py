"""The tracing store wrapper under the real app: ids stamped before storage, in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import anyio
import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from replaydeck.events import NewEvent, validate_event
from replaydeck.store.base import StoredEvent
from replaydeck.store.sql import SqlStore
from replaydeck.tracing.store import TracingStore
from replaydeck.tracing.tracer import SessionTracer
from tests.store.test_group_commit import count_commits
from tests.tracing.test_tracer import FakeClock
from tests.tracing.tracing_helpers import ts
from tests.waiting import eventually


@pytest.mark.anyio
async def test_concurrent_appends_to_one_session_get_consistent_span_ids(
    client: httpx.AsyncClient,
) -> None:
    async def one_tool(i: int) -> None:
        batch = [
            {"type": "tool.call", "data": {"name": "f", "args": {}, "call_id": f"c{i}"}},
            {"type": "tool.result", "data": {"name": "f", "call_id": f"c{i}", "result": i}},
        ]
        response = await client.post("/v1/sessions/s-many/events", json=batch)
        assert response.status_code == 200

    async with anyio.create_task_group() as group:
        for i in range(20):
            group.start_soon(one_tool, i)
    events = (await client.get("/v1/sessions/s-many/events?limit=100")).json()["events"]
    by_call: dict[str, set[str]] = defaultdict(set)
    for event in events:
        by_call[event["data"]["call_id"]].add(event["span_id"])
    assert len(by_call) == 20
    assert all(len(ids) == 1 for ids in by_call.values())
    assert len({next(iter(ids)) for ids in by_call.values()}) == 20


@pytest.mark.anyio
async def test_repeated_ids_are_not_restamped_and_new_events_keep_their_spans(
    client: httpx.AsyncClient,
) -> None:
    call = {
        "id": "e1",
        "type": "tool.call",
        "data": {"name": "f", "args": {}, "call_id": "c"},
        "ts": ts(0),
    }
    result = {
        "id": "e2",
        "type": "tool.result",
        "data": {"name": "f", "call_id": "c", "result": 1},
        "ts": ts(250),
    }
    await client.post("/v1/sessions/s-retry/events", json=[call])
    # A retry of the call together with the new result: the store skips the repeat.
    response = await client.post("/v1/sessions/s-retry/events", json=[call, result])
    assert response.json()["seqs"] == [1, 2]
    events = (await client.get("/v1/sessions/s-retry/events")).json()["events"]
    assert events[0]["span_id"] == events[1]["span_id"]
    session = (await client.get("/v1/sessions/s-retry")).json()
    assert {e["trace_id"] for e in events} == {session["trace_id"]}


@pytest.mark.anyio
async def test_appends_after_final_are_still_refused(client: httpx.AsyncClient) -> None:
    await client.post("/v1/sessions/s-done/events", json=[{"type": "final", "data": {}}])
    response = await client.post(
        "/v1/sessions/s-done/events", json=[{"type": "status", "data": {"label": "late"}}]
    )
    assert response.status_code == 409


def tool_events(call_id: str) -> list[NewEvent]:
    return [
        validate_event(raw, max_bytes=1 << 20)
        for raw in (
            {"type": "tool.call", "data": {"name": "f", "args": {}, "call_id": call_id}},
            {"type": "tool.result", "data": {"name": "f", "call_id": call_id, "result": 1}},
        )
    ]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(store: SqlStore, exporter: InMemorySpanExporter) -> TracingStore:
    return TracingStore(store, SessionTracer(SimpleSpanProcessor(exporter)))


@pytest.mark.anyio
async def test_concurrent_producers_of_one_session_share_commits(
    traced: TracingStore, store: SqlStore, exporter: InMemorySpanExporter
) -> None:
    await traced.append(
        "s", [validate_event({"type": "status", "data": {"label": "go"}}, max_bytes=1 << 20)]
    )
    commits = count_commits(store)
    await asyncio.gather(*(traced.append("s", tool_events(f"c{i}")) for i in range(30)))
    # No lock of the tracer's makes them take turns: they are grouped into few commits.
    assert commits[0] < 10
    stored = [e.as_dict() for e in await store.read("s")]
    by_call: dict[str, set[str]] = defaultdict(set)
    for event in stored[1:]:
        by_call[event["data"]["call_id"]].add(event["span_id"])
    assert all(len(ids) == 1 for ids in by_call.values())
    assert len(by_call) == 30
    tools = {s.context.span_id: s.name for s in exporter.get_finished_spans()}
    assert {format(k, "016x") for k in tools} == {next(iter(ids)) for ids in by_call.values()}


@pytest.mark.anyio
async def test_events_another_process_stored_are_caught_up_before_new_ones(
    traced: TracingStore, store: SqlStore, exporter: InMemorySpanExporter
) -> None:
    call, result = tool_events("c")
    await traced.append("s", [call])
    # Another process (its own tracer) appends straight to the log.
    await store.append("s", [result])
    final = validate_event({"type": "final", "data": {}}, max_bytes=1 << 20)
    await traced.append("s", [final])
    # The catch-up reads the missed result, then feeds `final`, in seq order.
    await eventually(lambda: len(exporter.get_finished_spans()) >= 1)
    names = [s.name for s in exporter.get_finished_spans()]
    # The tool span was finished by the event the other process stored (and exported
    # there); this process exports only the root that its own `final` closed.
    assert names == ["invoke_agent s"]


def event(raw: dict[str, object]) -> NewEvent:
    return validate_event(raw, max_bytes=1 << 20)


@pytest.fixture
def replica_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def two_replicas(
    store: SqlStore, replica_clock: FakeClock
) -> tuple[list[TracingStore], InMemorySpanExporter]:
    """Two processes' tracing over one log, exporting to one place (as a collector)."""
    exporter = InMemorySpanExporter()
    replicas = [
        TracingStore(
            store,
            SessionTracer(SimpleSpanProcessor(exporter), idle_timeout_s=60, clock=replica_clock),
        )
        for _ in range(2)
    ]
    return replicas, exporter


@pytest.mark.anyio
async def test_events_of_one_span_appended_through_two_replicas_get_one_span_id(
    two_replicas: tuple[list[TracingStore], InMemorySpanExporter], store: SqlStore
) -> None:
    replicas, exporter = two_replicas
    turn = [
        {"type": "status", "data": {"label": "go"}},
        {"type": "message.delta", "data": {"text": "a"}},
        {"type": "tool.call", "data": {"name": "f", "args": {}, "call_id": "c"}},
        {"type": "tool.result", "data": {"name": "f", "call_id": "c", "result": 1}},
        {"type": "message.delta", "data": {"text": "b"}},
        {"type": "message.delta", "data": {"text": "c"}},
        {"type": "final", "data": {}},
    ]
    for n, raw in enumerate(turn):
        # Round robin: the first replica never sees the first message, yet must stamp
        # the second as message #2, as the other replica does its next delta.
        await replicas[n % 2].append("s", [event(raw)])
    stamps = [e.as_dict()["span_id"] for e in await store.read("s")]
    # One id per span: the root (first and last events), the tool, the second message.
    assert [stamps[i] for i in (6, 3, 5)] == [stamps[i] for i in (0, 2, 4)]
    assert len({stamps[0], stamps[1], stamps[2], stamps[4]}) == 4
    await eventually(lambda: len(exporter.get_finished_spans()) >= 4)
    spans = {format(s.context.span_id, "016x"): s.name for s in exporter.get_finished_spans()}
    assert spans == {
        stamps[0]: "invoke_agent s",
        stamps[1]: "message #1",
        stamps[2]: "execute_tool f",
        stamps[4]: "message #2",
    }
    assert len(exporter.get_finished_spans()) == 4


@pytest.mark.anyio
async def test_only_the_replica_that_stored_the_last_event_ends_an_idle_session(
    two_replicas: tuple[list[TracingStore], InMemorySpanExporter], replica_clock: FakeClock
) -> None:
    (a, b), exporter = two_replicas
    call = {"type": "tool.call", "data": {"name": "f", "args": {}, "call_id": "c"}}
    result = {"type": "tool.result", "data": {"name": "f", "call_id": "c", "result": 1}}
    # "done" ends on B; "idle" stops with a tool call open, its last event stored by A.
    await a.append("done", [event(call)])
    await b.append("done", [event(result), event({"type": "final", "data": {}})])
    await b.append("idle", [event({"type": "status", "data": {"label": "go"}})])
    await a.append("idle", [event(call)])
    await eventually(lambda: len(exporter.get_finished_spans()) >= 2)
    assert [a.tracer.tracking, b.tracer.tracking] == [2, 1]
    replica_clock.now += 61
    # A still held "done" as A last saw it: the log shows B went on and finished it.
    assert await b.sweep() == []
    assert await a.sweep() == ["idle"]
    assert [a.tracer.tracking, b.tracer.tracking] == [0, 0]
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["execute_tool f", "execute_tool f", "invoke_agent done", "invoke_agent idle"]
    outcomes = {
        s.name: s.attributes["replaydeck.outcome"]
        for s in exporter.get_finished_spans()
        if s.name.startswith("invoke_agent") and s.attributes is not None
    }
    assert outcomes == {"invoke_agent done": "complete", "invoke_agent idle": "abandoned"}


@pytest.mark.anyio
async def test_a_session_whose_log_cannot_be_traced_takes_appends_untraced(
    store: SqlStore, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild that raises (a bug in the mapping) leaves nothing half-built: the
    session's appends are stored untraced, and its log is not read on each of them."""
    status = {"type": "status", "data": {"label": "x"}}
    await store.append("broken", [validate_event(status, max_bytes=1 << 20)])
    traced = TracingStore(store, SessionTracer(SimpleSpanProcessor(exporter)))

    def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the mapping")

    monkeypatch.setattr(traced.tracer, "_feed", fails)
    reads = 0
    read = store.read

    async def counted(*args: object, **kwargs: object) -> list[StoredEvent]:
        nonlocal reads
        reads += 1
        return await read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "read", counted)
    for _ in range(3):
        result = await traced.append("broken", [validate_event(status, max_bytes=1 << 20)])
        assert result.appended[0].as_dict().get("span_id") is None
    assert reads == 1
    assert not traced.tracer.is_tracking("broken")
    assert (await store.get_session("broken")).last_seq == 4
