"""POST /v1/traces/ingest at its edges: every kind of span the SDK exports, bad
payloads (a 4xx problem that names the item, nothing stored), retries, limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents.tracing.span_data import (
    AgentSpanData,
    FunctionSpanData,
    GuardrailSpanData,
    HandoffSpanData,
    MCPListToolsSpanData,
    ResponseSpanData,
    SpanData,
    SpeechSpanData,
)
from fastapi import FastAPI

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.telemetry.recorded_run import read_events

pytestmark = pytest.mark.anyio

PATH = "/v1/traces/ingest"
T0 = "2025-12-03T10:00:00.000000+00:00"
T1 = "2025-12-03T10:00:00.250000+00:00"
T2 = "2025-12-03T10:00:01.000000+00:00"


def header(trace_id: str = "trace_1", **fields: Any) -> dict[str, Any]:
    return {
        "object": "trace",
        "id": trace_id,
        "workflow_name": "flow",
        "group_id": None,
        "metadata": None,
        **fields,
    }


def span(
    data: SpanData | dict[str, Any],
    span_id: str,
    *,
    trace_id: str = "trace_1",
    parent_id: str | None = "span_agent",
    started_at: Any = T0,
    ended_at: Any = T1,
    error: Any = None,
) -> dict[str, Any]:
    """A span export as the Python SDK's SpanImpl.export() builds it."""
    return {
        "object": "trace.span",
        "id": span_id,
        "trace_id": trace_id,
        "parent_id": parent_id,
        "started_at": started_at,
        "ended_at": ended_at,
        "span_data": data.export() if isinstance(data, SpanData) else data,
        "error": error,
    }


def task(
    span_id: str = "span_task", trace_id: str = "trace_1", ended_at: str = T2
) -> dict[str, Any]:
    data = {
        "type": "custom",
        "name": "task",
        "data": {"sdk_span_type": "task", "name": "flow", "usage": {"input_tokens": 3}},
    }
    return span(data, span_id, trace_id=trace_id, parent_id=None, ended_at=ended_at)


async def post(client: httpx.AsyncClient, data: Any, **kwargs: Any) -> httpx.Response:
    return await client.post(PATH, json={"data": data} if data is not None else None, **kwargs)


async def test_each_span_kind_becomes_its_events(client: httpx.AsyncClient) -> None:
    items = [
        header(),
        span(AgentSpanData("Triage", handoffs=["Billing"], tools=[]), "span_agent", parent_id=None),
        span(GuardrailSpanData("no-pii", triggered=True), "span_guard"),
        span(HandoffSpanData("Triage", "Billing"), "span_handoff"),
        span(FunctionSpanData("lookup", '{"id": 7}', "found"), "span_fn", ended_at=T2),
        span(
            FunctionSpanData("broken", "not json", None),
            "span_bad",
            error={"message": "Error running tool", "data": {"error": "boom"}},
        ),
        span(ResponseSpanData(usage={"input_tokens": 5}), "span_resp"),
        span(MCPListToolsSpanData(server="files", result=["read"]), "span_mcp"),
        span(SpeechSpanData(input="hi", output="AAAA", model="tts"), "span_speech"),
        span(
            {"type": "from_the_future", "x": 1},
            "span_new",
            error={"message": "it failed", "data": None},
        ),
        {"object": "trace.event", "id": "whatever"},
    ]
    answer = await post(client, items)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ignored"] == 1
    events = await read_events(client, "trace_1")
    by_id = {e["id"]: e for e in events}
    assert by_id["span_agent.agent"]["data"]["label"] == "agent Triage"
    assert by_id["span_guard.guardrail"]["type"] == "agents.guardrail"
    assert by_id["span_guard.guardrail"]["data"] == {"name": "no-pii", "triggered": True}
    assert by_id["span_handoff.handoff"]["data"]["label"] == "handoff Triage → Billing"
    call, result = by_id["span_fn.call"], by_id["span_fn.result"]
    assert call["data"] == {"name": "lookup", "args": {"id": 7}, "call_id": "span_fn"}
    assert result["data"]["duration_ms"] == 1000.0
    assert result["offset_ms"] - call["offset_ms"] == 1000.0
    bad = by_id["span_bad.result"]["data"]
    assert by_id["span_bad.call"]["data"]["args"] == {"input": "not json"}
    assert (bad["is_error"], bad["error"], bad["error_data"]) == (
        True,
        "Error running tool",
        {"error": "boom"},
    )
    assert "span_bad.error" not in by_id  # a tool's error is its result's, not the run's
    assert by_id["span_resp.usage"]["data"]["usage"] == {"input_tokens": 5}
    assert by_id["span_mcp.span"]["data"]["span_type"] == "mcp_tools"
    speech = by_id["span_speech.span"]["data"]
    assert speech["output"] == {"format": "pcm"}  # the audio is dropped
    assert by_id["span_new.span"]["data"] == {"span_type": "from_the_future", "x": 1}
    assert by_id["span_new.error"]["data"] == {"message": "it failed", "code": "from_the_future"}
    # Triage handed off (the handoff span is its child): its end is not the trace's.
    assert "final" not in {e["type"] for e in events}
    offsets = [e["offset_ms"] for e in events]
    assert offsets == sorted(offsets)


async def test_an_agent_that_handed_off_does_not_end_the_trace(client: httpx.AsyncClient) -> None:
    first = [header(), span(HandoffSpanData("A", "B"), "span_h", parent_id="span_a")]
    assert (await post(client, first)).status_code == 200
    # The next batch: A's span ends (it handed off), then B's ends the run.
    later = [
        span(AgentSpanData("A"), "span_a", parent_id=None, ended_at=T1),
        span(AgentSpanData("B"), "span_b", parent_id=None, started_at=T1, ended_at=T2),
    ]
    assert (await post(client, later)).status_code == 200
    types = [e["type"] for e in await read_events(client, "trace_1")]
    assert types.count("final") == 1
    assert types[-1] == "final"


async def test_a_resent_batch_adds_nothing_and_late_spans_are_skipped(
    client: httpx.AsyncClient,
) -> None:
    batch = [header(), span(FunctionSpanData("f", "{}", "ok"), "span_f"), task()]
    first = await post(client, batch)
    assert first.json()["sessions"] == [
        {"id": "trace_1", "appended": 3, "last_seq": 3, "skipped": 0}
    ]
    again = await post(client, batch)
    assert again.status_code == 200
    assert again.json()["sessions"][0]["appended"] == 0
    # A span the app ends after the run: the session is complete, so it is skipped
    # (a 409 would make the exporter retry it for nothing).
    late = await post(client, [span(FunctionSpanData("g", "{}", "ok"), "span_g")])
    assert late.status_code == 200
    assert late.json()["sessions"] == [
        {"id": "trace_1", "appended": 0, "last_seq": None, "skipped": 2}
    ]
    assert len(await read_events(client, "trace_1")) == 3


async def test_group_ids_name_sessions_and_odd_ones_are_hashed(client: httpx.AsyncClient) -> None:
    items = [
        header("trace_a", group_id="chat 1 / alice"),
        header("trace_b", group_id="sk-" + "a1B2c3D4e5" * 4),
        span(FunctionSpanData("f", "{}", "ok"), "span_1", trace_id="trace_a"),
        span(FunctionSpanData("f", "{}", "ok"), "span_2", trace_id="trace_b"),
    ]
    answer = await post(client, items)
    assert answer.status_code == 200, answer.text
    ids = [s["id"] for s in answer.json()["sessions"]]
    assert all(i.startswith("group-") for i in ids)
    assert len(set(ids)) == 2
    second = (await client.get(f"/v1/sessions/{ids[1]}")).json()
    assert second["metadata"]["group_id"] == "[REDACTED]"
    assert "a1B2c3D4e5" not in str(second)


async def test_secrets_in_spans_are_redacted(client: httpx.AsyncClient) -> None:
    secret = "sk-" + "Zx9" * 12
    items = [
        header(),
        span(FunctionSpanData("login", f'{{"api_key": "{secret}"}}', f"token {secret}"), "span_f"),
    ]
    assert (await post(client, items)).status_code == 200
    assert secret not in str(await read_events(client, "trace_1"))


async def test_an_empty_export_stores_nothing(client: httpx.AsyncClient) -> None:
    answer = await post(client, [])
    assert answer.status_code == 200
    assert answer.json() == {"sessions": [], "ignored": 0}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b'{"data": []}', "text/plain", 415, "application/json"),
        (b'{"data": []}', "", 415, "without a Content-Type"),
        (b"[]", "application/json", 400, 'send {"data": [...]}'),
        (b'{"data": {}}', "application/json", 400, 'send {"data": [...]}'),
        (b'{"data": [7]}', "application/json", 422, "data[0] is a JSON int"),
        (b'{"data": [{"object": "trace"}]}', "application/json", 422, "no string 'id'"),
        (
            b'{"data": [{"object": "trace.span", "id": "s", "trace_id": "t"}]}',
            "application/json",
            422,
            "no 'span_data'",
        ),
        (b'{"data": [{"object": "trace", "id": "a\\u0000b"}]}', "application/json", 422, "NUL"),
        (b'{"data": [{"object": "trace", "id": 5}]}', "application/json", 422, "'id'"),
    ],
)
async def test_bad_payloads_are_4xx_problems(
    client: httpx.AsyncClient, body: bytes, content_type: str, status: int, says: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = await client.post(PATH, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert says in answer.json()["detail"]


@pytest.mark.parametrize(
    "moment",
    ["yesterday", "2025-12-03T10:00:00", "10000-01-01T00:00:00+00:00", 12, True, ""],
)
async def test_odd_timestamps_are_refused_with_the_item_named(
    client: httpx.AsyncClient, moment: Any
) -> None:
    items = [header(), span(FunctionSpanData("f", "{}", "ok"), "span_f", started_at=moment)]
    answer = await post(client, items)
    assert answer.status_code == 422, answer.text
    assert "data[1]" in answer.json()["detail"]
    assert "started_at" in answer.json()["detail"]
    # Nothing of the request is stored, the trace's header neither.
    assert (await client.get("/v1/sessions/trace_1")).status_code == 404


async def test_missing_times_fall_back_to_the_other_end_and_then_arrival(
    client: httpx.AsyncClient,
) -> None:
    items = [
        header(),
        span(FunctionSpanData("f", "{}", "ok"), "span_f", started_at=None, ended_at=T1),
        span(GuardrailSpanData("g"), "span_g", started_at=None, ended_at=None),
    ]
    assert (await post(client, items)).status_code == 200
    events = {e["id"]: e for e in await read_events(client, "trace_1")}
    assert (
        events["span_f.call"]["ts"]
        == events["span_f.result"]["ts"]
        == "2025-12-03T10:00:00.250000Z"
    )
    assert events["span_f.result"]["data"]["duration_ms"] == 0.0
    assert events["span_g.guardrail"]["ts"] > "2025-12-03T10:00:01"


@pytest.fixture
def small(tmp_path: Path) -> FastAPI:
    return create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/small.db",
            max_event_bytes=4096,
            max_request_bytes=64 * 1024,
            max_batch_events=10,
        )
    )


async def test_limits_answer_413_and_a_huge_output_is_cut_not_refused(small: FastAPI) -> None:
    async with small.router.lifespan_context(small):
        transport = httpx.ASGITransport(app=small)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            huge = [header(), span(FunctionSpanData("f", "{}", "x" * 70_000), "span_f")]
            answer = await post(client, huge)
            assert answer.status_code == 413
            assert "REPLAYDECK_MAX_REQUEST_BYTES" in answer.json()["detail"]

            many = [header(), *(span(GuardrailSpanData("g"), f"span_{n}") for n in range(11))]
            answer = await post(client, many)
            assert answer.status_code == 413
            assert "REPLAYDECK_MAX_BATCH_EVENTS" in answer.json()["detail"]

            big = [header(), span(FunctionSpanData("f", "{}", "y" * 20_000), "span_f")]
            answer = await post(client, big)
            assert answer.status_code == 200, answer.text
            result = {e["id"]: e for e in await read_events(client, "trace_1")}["span_f.result"]
            assert result["data"]["truncated"] is True
            assert result["data"]["result"].endswith("… [truncated]")
            assert 3000 < len(result["data"]["result"]) < 4096


@pytest.mark.parametrize("depth", [40, 300, 1000])
async def test_deep_nesting_anywhere_is_never_a_5xx(client: httpx.AsyncClient, depth: int) -> None:
    # Written as text: no JSON encoder nests 1000 deep, but a body can.
    deep = "[" * depth + '"deep"' + "]" * depth
    items = [
        header(metadata={"deep": "DEEP"}),
        span({"type": "generation", "input": "DEEP", "output": "DEEP", "usage": "DEEP"}, "span_g"),
        span({"type": "function", "name": "f", "input": "{}", "output": "DEEP"}, "span_fn"),
        span({"type": "custom", "name": "x", "data": {"deep": "DEEP"}}, "span_x", error="DEEP"),
    ]
    body = json.dumps({"data": items}).replace('"DEEP"', deep)
    answer = await client.post(PATH, content=body, headers={"content-type": "application/json"})
    assert answer.status_code < 500, answer.text
    if answer.status_code != 200:
        assert answer.headers["content-type"] == "application/problem+json"
