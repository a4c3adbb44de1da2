"""Tracing across replicas: a session's appends alternate between two `replaydeck serve`
processes on one PostgreSQL database, both exporting to one real OTLP receiver.

Each span must be exported exactly once (by the replica that stored the event that
finished it), with the id the store stamped into the envelopes of its events, the right
parent, name and duration; and the /trace document of either replica must agree.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from replaydeck.tracing.document import from_otlp_json
from tests.scale.replicas import Replica, replicas
from tests.store.pg import pg_template, pg_url
from tests.tracing.receivers import Received, http_receiver
from tests.tracing.tracing_helpers import ns, ts
from tests.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]
__all__ = ["pg_template", "pg_url"]

PRODUCER_TRACE = "0af7651916cd43dd8448eb211c80319c"
PRODUCER_SPAN = "b7ad6b7169203331"
SESSIONS = 5
IDLE_TIMEOUT_S = "5"
# Events per request, cycled: single events and small batches, so that a span's
# events are split between the replicas at every kind of boundary.
BATCHES = (1, 2, 1, 3, 1)


@dataclass
class Expected:
    """A span the test expects, from the producer's own timeline (milliseconds)."""

    name: str
    start_ms: int
    end_ms: int
    error: bool = False
    # The seqs of the stored events that belong to it (filled as the turn is built).
    seqs: list[int] = field(default_factory=list)


@dataclass
class Turn:
    session: str
    events: list[dict[str, Any]] = field(default_factory=list)
    spans: dict[str, Expected] = field(default_factory=dict)
    agent: str | None = None
    joined: bool = False
    usage: tuple[int, int] = (0, 0)

    def add(self, ms: int, type_: str, key: str, **data: Any) -> None:
        self.events.append({"type": type_, "data": data, "ts": ts(ms)})
        self.spans[key].seqs.append(len(self.events))
        self.spans[key].end_ms = max(self.spans[key].end_ms, ms)

    def open(self, key: str, name: str, start_ms: int, *, error: bool = False) -> None:
        self.spans[key] = Expected(name, start_ms, start_ms, error)


def agent_turn(n: int) -> Turn:
    """A realistic turn, different per session: status, two text messages, one tool call
    and two parallel ones, and `final` with usage. Session 0 joins the producer's trace
    and names its agent, 1 reports an error, 2 has a failing tool, 3 resumes a message
    after its tool call, 4 streams text without message ids."""
    turn = Turn(f"turn-{n}", agent="researcher" if n == 0 else None, joined=n == 0)
    name = f"invoke_agent {turn.agent or turn.session}"
    turn.open("root", name, 0, error=n == 1)
    turn.add(0, "status", "root", label="thinking")

    def message(key: str, label: str, start_ms: int, texts: list[tuple[int, str]]) -> None:
        # A message span starts at the event before its first delta.
        turn.open(key, f"message {label}", start_ms)
        for ms, text in texts:
            data: dict[str, Any] = {"text": text}
            if n != 4:
                data["message_id"] = label
            turn.add(ms, "message.delta", key, **data)

    first = "m1" if n != 4 else "#1"
    message("m1", first, 0, [(90, "Let me "), (130 + n, "search.")])
    turn.open("c1", "execute_tool web.search", 200)
    turn.add(200, "tool.call", "c1", name="web.search", args={"q": f"sse {n}"}, call_id="c1")
    r1 = 200 + 150 + 10 * n
    turn.add(r1, "tool.result", "c1", name="web.search", call_id="c1", result={"hits": 3})
    if n == 3:
        message("m1-2", "m1", r1, [(r1 + 30, " Found three.")])
    turn.add(r1 + 40, "status", "root", label="reading")
    turn.open("c2", "execute_tool fetch", r1 + 60)
    turn.add(r1 + 60, "tool.call", "c2", name="fetch", args={"url": "a"}, call_id="c2")
    turn.open("c3", "execute_tool fetch", r1 + 65, error=n == 2)
    turn.add(r1 + 65, "tool.call", "c3", name="fetch", args={"url": "b"}, call_id="c3")
    r2 = r1 + 65 + 300 + 7 * n
    failing = {"is_error": True} if n == 2 else {}
    turn.add(r2, "tool.result", "c3", name="fetch", call_id="c3", result="b", **failing)
    r3 = r1 + 60 + 500 + 5 * n
    turn.add(r3, "tool.result", "c2", name="fetch", call_id="c2", result="a")
    second = "m2" if n != 4 else "#2"
    message("m2", second, r3, [(r3 + 80 + k * (25 + n), f"word{k} ") for k in range(4)])
    last = r3 + 80 + 3 * (25 + n)
    if n == 1:
        turn.add(last + 10, "error", "root", message="rate limited upstream", code="rate_limit")
        last += 10
    turn.usage = (1200 + n, 340 + n)
    usage = {"input_tokens": turn.usage[0], "output_tokens": turn.usage[1]}
    turn.add(last + 50, "final", "root", usage=usage)
    return turn


def batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    sizes = itertools.cycle(BATCHES)
    start = 0
    while start < len(events):
        size = next(sizes)
        yield events[start : start + size]
        start += size


async def send(http: httpx.AsyncClient, pair: list[Replica], n: int, turn: Turn) -> None:
    """Create the session on one replica and append its turn alternating between both,
    one request at a time, as a producer behind a round-robin load balancer would."""
    if turn.joined or turn.agent:
        body: dict[str, Any] = {"id": turn.session}
        if turn.agent:
            body["metadata"] = {"agent_name": turn.agent}
        headers = {"traceparent": f"00-{PRODUCER_TRACE}-{PRODUCER_SPAN}-01"}
        response = await http.post(
            f"{pair[(n + 1) % 2].url}/v1/sessions",
            json=body,
            headers=headers if turn.joined else {},
        )
        assert response.status_code == 201, response.text
    seq = 0
    for k, batch in enumerate(batches(turn.events)):
        replica = pair[(n + k) % 2]
        response = await http.post(f"{replica.url}/v1/sessions/{turn.session}/events", json=batch)
        assert response.status_code == 200, response.text
        assert response.json()["seqs"] == list(range(seq + 1, seq + len(batch) + 1))
        seq += len(batch)


async def stored(http: httpx.AsyncClient, replica: Replica, session: str) -> list[dict[str, Any]]:
    response = await http.get(f"{replica.url}/v1/sessions/{session}/events?limit=1000")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def document_spans(http: httpx.AsyncClient, replica: Replica, session: str) -> list[Span]:
    response = await http.get(f"{replica.url}/v1/sessions/{session}/trace")
    assert response.status_code == 200, response.text
    request = from_otlp_json(response.json())
    return [
        span
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


def attributes(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        out[attribute.key] = getattr(value, value.WhichOneof("value") or "string_value")
    return out


def shape(span: Span) -> tuple[Any, ...]:
    """What two copies of one span must agree on."""
    return (
        span.trace_id.hex(),
        span.span_id.hex(),
        span.parent_span_id.hex(),
        span.name,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        span.status.code,
        tuple(sorted((k, str(v)) for k, v in attributes(span).items())),
        tuple((e.name, e.time_unix_nano) for e in span.events),
    )


async def traced_sessions(http: httpx.AsyncClient, replica: Replica) -> float:
    """The replica's `replaydeck_traced_sessions` gauge: sessions it holds spans of."""
    response = await http.get(f"{replica.url}/metrics")
    assert response.status_code == 200
    for line in response.text.splitlines():
        if line.startswith("replaydeck_traced_sessions "):
            return float(line.split()[1])
    raise AssertionError("no replaydeck_traced_sessions gauge in /metrics")


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Received]:
    with http_receiver() as (endpoint, received):
        # Read by each replica's exporter from its environment, as in a deployment.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        # Export promptly instead of every 5 s, so the test waits for spans, not a timer.
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
        yield received


async def test_round_robin_appends_export_every_span_once_with_its_stamped_id(
    pg_url: str, tmp_path: Path, receiver: Received
) -> None:
    turns = [agent_turn(n) for n in range(SESSIONS)]
    # Short, so that each replica's sweeper also gets to judge the sessions it holds
    # state for after they are over. Well above any pause between one session's
    # appends, which would otherwise rightly end its spans as abandoned.
    with replicas(pg_url, tmp_path, trace_idle_timeout=IDLE_TIMEOUT_S) as pair:
        async with httpx.AsyncClient(timeout=30) as http:
            await asyncio.gather(*(send(http, pair, n, turn) for n, turn in enumerate(turns)))
            logs = {t.session: await stored(http, pair[0], t.session) for t in turns}
            for turn in turns:
                # Both replicas read the same log.
                assert await stored(http, pair[1], turn.session) == logs[turn.session]
            roots = {logs[t.session][0]["span_id"] for t in turns}
            await eventually(lambda: roots <= {s.span_id.hex() for s in receiver.spans()})
            documents = {
                (t.session, r.url): await document_spans(http, r, t.session)
                for t in turns
                for r in pair
            }
            sessions = {
                t.session: (await http.get(f"{pair[1].url}/v1/sessions/{t.session}")).json()
                for t in turns
            }
            # Both replicas held state for every session; the one that stored `final`
            # let go at once, the other when it finds the session idle. Only then can
            # a replica wrongly end (export again) spans another replica finished.
            with anyio.fail_after(60):
                while [await traced_sessions(http, r) for r in pair] != [0, 0]:  # noqa: ASYNC110
                    await anyio.sleep(0.05)  # ok: polls the replicas' gauges under fail_after
    # Stopped gracefully (SIGTERM): each replica's lifespan flushed its span processor.
    for replica in pair:
        assert "Application shutdown complete" in replica.output(), replica.output()

    spans = receiver.spans()
    copies = Counter(s.span_id.hex() for s in spans)
    twice = {
        span_id: [
            (s.name, attributes(s).get("replaydeck.outcome"))
            for s in spans
            if s.span_id.hex() == span_id
        ]
        for span_id, count in copies.items()
        if count > 1
    }
    assert not twice, f"span ids exported more than once: {twice}"
    by_id = {s.span_id.hex(): s for s in spans}

    checked = 0
    for turn in turns:
        log = logs[turn.session]
        trace_id = sessions[turn.session]["trace_id"]
        if turn.joined:
            assert trace_id == PRODUCER_TRACE
        assert [e["type"] for e in log] == [e["type"] for e in turn.events]
        assert {e["trace_id"] for e in log} == {trace_id}
        # The stamps group the events exactly as the producer's spans do.
        stamp_of: dict[str, str] = {}
        for key, expected in turn.spans.items():
            stamps = {log[seq - 1]["span_id"] for seq in expected.seqs}
            assert len(stamps) == 1, (turn.session, key, stamps)
            stamp_of[key] = stamps.pop()
        assert len(set(stamp_of.values())) == len(stamp_of), (turn.session, stamp_of)
        root_id = stamp_of["root"]
        for key, expected in turn.spans.items():
            span = by_id.get(stamp_of[key])
            assert span is not None, f"{turn.session}: span {key} ({expected.name}) not exported"
            where = (turn.session, key)
            assert span.trace_id.hex() == trace_id, where
            assert span.name == expected.name, where
            # Times are the producer's `ts`, so durations are exactly its differences.
            times = (span.start_time_unix_nano, span.end_time_unix_nano)
            assert times == (ns(expected.start_ms), ns(expected.end_ms)), where
            error = span.status.code == Status.STATUS_CODE_ERROR
            assert error is expected.error, (*where, span.status)
            found = attributes(span)
            assert found["replaydeck.replay.path"] == f"/v1/sessions/{turn.session}/replay"
            if key == "root":
                parent = PRODUCER_SPAN if turn.joined else ""
                assert span.parent_span_id.hex() == parent, where
                assert found["gen_ai.usage.input_tokens"] == turn.usage[0], where
                assert found["gen_ai.usage.output_tokens"] == turn.usage[1], where
                assert found["replaydeck.outcome"] == "complete", where
            else:
                assert span.parent_span_id.hex() == root_id, where
            if key.startswith("c"):
                assert found["gen_ai.tool.call.id"] == key, where
            checked += 1
        exported = [s for s in spans if s.trace_id.hex() == trace_id]
        assert len(exported) == len(turn.spans), turn.session
        # The /trace document of either replica is the exported trace, span for span.
        for replica in pair:
            document = documents[(turn.session, replica.url)]
            assert sorted(map(shape, document)) == sorted(map(shape, exported)), (
                turn.session,
                replica.url,
            )
    assert len(spans) == checked
