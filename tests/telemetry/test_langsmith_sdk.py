"""A LangGraph agent traced by the real LangSmith SDK into a real uvicorn.

LangChain's own tracer (LangChainTracer) and the `langsmith` Client send what they
send to any LangSmith: the /info handshake, then run pieces as zstd multipart (what
/info offers), plain multipart, a JSON batch, or one request per piece. Each way the
run must become the same complete session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from langchain_core.tracers.langchain import LangChainTracer
from langsmith import Client

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve
from tests.sse_client import dispatched
from tests.store.pg import pg_template, pg_url
from tests.telemetry import langgraph_agent as agent
from tests.telemetry.sessions import events_of, langsmith_sessions, only_session

__all__ = ["pg_template", "pg_url"]


def texts(events: list[dict[str, Any]], message_id: str) -> str:
    return "".join(
        e["data"]["text"]
        for e in events
        if e["type"] == "message.delta" and e["data"]["message_id"] == message_id
    )


def assert_agent_turn(events: list[dict[str, Any]], *, end: str = "final") -> None:
    """One agent turn: the question, a streamed message, the tool, the answer, the end."""
    kinds = [e["type"] for e in events]
    assert kinds[0] == "user.message"
    assert events[0]["data"]["text"] == agent.QUESTION
    assert kinds[-1] == end
    call = next(e for e in events if e["type"] == "tool.call")
    result = next(e for e in events if e["type"] == "tool.result")
    assert call["data"] == {
        "name": "get_weather",
        "call_id": "call_weather_1",
        "args": {"city": "Paris"},
    }
    assert result["data"]["call_id"] == "call_weather_1"
    assert result["data"]["result"] == "Sunny in Paris"
    assert result["data"]["duration_ms"] >= agent.TOOL_PAUSE_S * 1000
    assert result["offset_ms"] - call["offset_ms"] == pytest.approx(
        result["data"]["duration_ms"], abs=0.01
    )
    models = [e for e in events if e["type"] == "model.usage"]
    assert [m["data"]["usage"] for m in models] == agent.USAGE
    first, second = (m["data"]["run_id"] for m in models)
    # The text streamed, in order: the first message before the tool, the answer after.
    assert texts(events, first).strip() == agent.FIRST
    assert texts(events, second).strip() == agent.ANSWER
    deltas = [e for e in events if e["type"] == "message.delta"]
    assert len(deltas) == len(agent.FIRST.split()) + len(agent.ANSWER.split())
    assert kinds.index("tool.call") > kinds.index("message.delta")
    assert kinds.index("tool.result") < len(kinds) - 1 - kinds[::-1].index("message.delta")
    # The rhythm is the model's: a word every TOKEN_PAUSE_S, not all at once.
    answer = [e["offset_ms"] for e in deltas if e["data"]["message_id"] == second]
    assert answer == sorted(answer)
    assert answer[-1] - answer[0] >= (len(answer) - 1) * agent.TOKEN_PAUSE_S * 1000 * 0.9
    assert events[-1]["data"]["usage"] == {
        "input_tokens": 42,
        "output_tokens": 15,
        "total_tokens": 57,
    }
    offsets = [e["offset_ms"] for e in events]
    assert offsets == sorted(offsets)


@pytest.fixture
def langsmith(server: RunningServer) -> Iterator[Client]:
    client = Client(api_url=f"{server.url}/langsmith", api_key="any: the API is open")
    yield client
    client.flush()
    client.cleanup()


def run_agent_graph(client: Client, graph: Any, **config: Any) -> None:
    agent.ask(graph, {"callbacks": [LangChainTracer(client=client)], **config})
    # The SDK sends from a background thread; flush() returns once all is sent.
    client.flush()


def run_agent(client: Client, **config: Any) -> None:
    run_agent_graph(client, agent.build(), **config)


def test_a_langgraph_run_becomes_one_complete_session(
    server: RunningServer, langsmith: Client
) -> None:
    run_agent(langsmith)
    session, events = only_session(server.url)
    assert session["status"] == "complete"
    assert session["metadata"]["agent_name"] == "LangGraph"
    assert session["metadata"]["trace_id"] == session["id"]
    assert_agent_turn(events)

    # The session's trace has the tool's span with its real duration.
    document = httpx.get(f"{server.url}/v1/sessions/{session['id']}/trace").json()
    spans = [
        span
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    tool = next(span for span in spans if span["name"] == "execute_tool get_weather")
    duration_ns = int(tool["endTimeUnixNano"]) - int(tool["startTimeUnixNano"])
    assert duration_ns >= agent.TOOL_PAUSE_S * 1e9
    names = {span["name"] for span in spans}
    assert f"invoke_agent {session['id']}" in names or any(
        n.startswith("invoke_agent") for n in names
    )


@pytest.mark.anyio
async def test_the_replay_keeps_the_recorded_timing(
    server: RunningServer, langsmith: Client
) -> None:
    await anyio.to_thread.run_sync(run_agent, langsmith)
    session, events = only_session(server.url)
    arrivals: list[tuple[float, dict[str, Any]]] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        with anyio.fail_after(20):
            started = time.perf_counter()
            url = f"/v1/sessions/{session['id']}/replay?speed=1"
            async with aconnect_sse(http, "GET", url) as source:
                async for sse in dispatched(source):
                    arrivals.append((time.perf_counter(), orjson.loads(sse.data)))
    replayed = [envelope for _, envelope in arrivals[:-1]]
    assert replayed == events
    # Nothing comes before its recorded offset, so the whole replay lasts the run.
    for arrived, envelope in arrivals[:-1]:
        assert (arrived - started) * 1000 >= envelope["offset_ms"]
    assert (arrivals[-1][0] - started) * 1000 >= events[-1]["offset_ms"]
    assert arrivals[-1][1] == {"reason": "complete", "count": len(events)}


def test_a_thread_id_makes_turns_of_one_conversation(
    server: RunningServer, langsmith: Client
) -> None:
    for _ in range(2):
        run_agent(langsmith, configurable={"thread_id": "chat-42"})
    session, events = only_session(server.url)
    assert session["id"] == "chat-42"
    assert session["metadata"]["thread_id"] == "chat-42"
    # The conversation goes on: each turn ends with trace.end, not final.
    assert session["status"] == "open"
    ends = [i for i, e in enumerate(events) if e["type"] == "trace.end"]
    assert len(ends) == 2
    assert_agent_turn(events[: ends[0] + 1], end="trace.end")
    assert_agent_turn(events[ends[0] + 1 :], end="trace.end")


@pytest.mark.parametrize("transport", ["multipart-zstd", "multipart", "batch", "one-by-one"])
def test_every_way_the_sdk_sends_gives_the_same_session(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    api_url = f"{server.url}/langsmith"
    if transport == "multipart":
        monkeypatch.setenv("LANGSMITH_DISABLE_RUN_COMPRESSION", "true")
    options: dict[str, Any] = {}
    if transport == "batch":
        # What an older server's /info says: the SDK then posts /runs/batch.
        info = httpx.get(f"{api_url}/info").json()
        info["batch_ingest_config"]["use_multipart_endpoint"] = False
        options["info"] = info
    if transport == "one-by-one":
        # Each piece in its own request: starts and ends arrive separately.
        options["auto_batch_tracing"] = False
    client = Client(api_url=api_url, api_key="unused", **options)
    try:
        run_agent(client)
        if transport == "multipart-zstd":
            assert client.compressed_traces is not None
    finally:
        client.cleanup()
    session, events = only_session(server.url)
    assert session["status"] == "complete"
    assert_agent_turn(events)


def root_run(
    suffix: str, name: str, run_type: str, inputs: dict[str, Any], outputs: dict[str, Any]
) -> dict[str, Any]:
    """A whole root run as `Client.batch_ingest_runs` takes it."""
    run_id = f"0190a5c2-0000-7000-8000-0000000000{suffix}"
    return {
        "id": run_id,
        "trace_id": run_id,
        "dotted_order": f"20260101T000000000000Z{run_id}",
        "name": name,
        "run_type": run_type,
        "start_time": "2026-01-01T00:00:00+00:00",
        "end_time": "2026-01-01T00:00:01+00:00",
        "inputs": inputs,
        "outputs": outputs,
    }


def test_runs_sent_again_store_nothing_new(server: RunningServer, langsmith: Client) -> None:
    run_agent(langsmith)
    session, events = only_session(server.url)
    # The SDK's retry of an accepted request: the same pieces once more.
    runs = [root_run("01", "again", "chain", {"input": "hello"}, {"output": "hi"})]
    for _ in range(2):
        langsmith.batch_ingest_runs(create=runs)
    (first, second) = sorted(langsmith_sessions(server.url), key=lambda s: s["id"] != session["id"])
    assert events_of(server.url, first["id"]) == events
    again = events_of(server.url, second["id"])
    assert [e["type"] for e in again] == ["user.message", "final"]


@pytest.mark.postgres
def test_the_same_session_on_postgresql(pg_url: str) -> None:
    app = create_app(Settings(database_url=pg_url))
    with serve(app) as running:
        client = Client(api_url=f"{running.url}/langsmith", api_key="unused")
        try:
            run_agent(client)
            # Text that PostgreSQL cannot hold in jsonb stays in event data as sent.
            nul = root_run("e1", "nul", "tool", {"q": "a\x00b"}, {"output": "c\x00d"})
            nul["extra"] = {"metadata": {"thread_id": "t\x00"}}
            client.batch_ingest_runs(create=[nul])
        finally:
            client.cleanup()
        sessions = {s["metadata"].get("agent_name"): s for s in langsmith_sessions(running.url)}
        assert_agent_turn(events_of(running.url, sessions["LangGraph"]["id"]))
        odd = sessions["nul"]
        assert odd["id"].startswith("thread-")
        call = events_of(running.url, odd["id"])[0]
        assert call["data"]["args"] == {"q": "a\x00b"}
        assert "thread_id" not in odd["metadata"]


def test_a_failing_tool_is_an_error_result(server: RunningServer, langsmith: Client) -> None:
    agent.ask(
        agent.build(tool_name="broken_tool"), {"callbacks": [LangChainTracer(client=langsmith)]}
    )
    langsmith.flush()
    session, events = only_session(server.url)
    result = next(e for e in events if e["type"] == "tool.result")
    assert result["data"]["is_error"] is True
    assert result["data"]["result"] == "ValueError: no weather station in Paris"
    # LangGraph's ToolNode handed the error to the model, which answered: no error event.
    assert "error" not in [e["type"] for e in events]
    assert session["status"] == "complete"


def test_a_failing_model_is_one_error_and_a_final(server: RunningServer, langsmith: Client) -> None:
    with pytest.raises(ValueError, match="overloaded"):
        run_agent_graph(langsmith, agent.build(overloaded=True))
    langsmith.flush()
    session, events = only_session(server.url)
    errors = [e["data"]["message"] for e in events if e["type"] == "error"]
    assert errors == ["ValueError: the model is overloaded"]
    assert events[-1]["type"] == "final"
    assert events[-1]["data"]["reason"] == "error"
    assert session["status"] == "complete"
