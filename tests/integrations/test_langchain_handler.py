"""replaydeck.integrations.langchain: a LangGraph run recorded in process, token by token.

The real LangGraph and LangChain, the real Recorder, a real uvicorn. In process the
handler sees every token with its own time, so the deltas are the model's own chunks.
"""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest
from langchain_core.messages import HumanMessage

from replaydeck.capture.sdk import Recorder
from replaydeck.integrations.langchain import ReplaydeckCallbackHandler
from tests.servers import RunningServer
from tests.telemetry import langgraph_agent as agent
from tests.telemetry.sessions import events_of

pytestmark = pytest.mark.anyio


def words(text: str) -> list[str]:
    return [word + " " for word in text.split(" ")]


def assert_recorded_turn(events: list[dict[str, Any]], end: str = "final") -> None:
    kinds = [e["type"] for e in events]
    assert kinds[0] == "user.message"
    assert events[0]["data"]["text"] == agent.QUESTION
    deltas = [e for e in events if e["type"] == "message.delta"]
    # Every chunk the model streamed, as it streamed it.
    assert [d["data"]["text"] for d in deltas] == words(agent.FIRST) + words(agent.ANSWER)
    gaps = [b["offset_ms"] - a["offset_ms"] for a, b in itertools.pairwise(deltas)]
    assert all(gap >= agent.TOKEN_PAUSE_S * 1000 * 0.9 for gap in gaps), gaps
    call = next(e for e in events if e["type"] == "tool.call")
    result = next(e for e in events if e["type"] == "tool.result")
    assert call["data"] == {
        "name": "get_weather",
        "call_id": "call_weather_1",
        "args": {"city": "Paris"},
    }
    assert result["data"]["result"] == "Sunny in Paris"
    assert result["data"]["duration_ms"] >= agent.TOOL_PAUSE_S * 1000
    assert kinds[-1] == end
    assert events[-1]["data"]["usage"] == {
        "input_tokens": 42,
        "output_tokens": 15,
        "total_tokens": 57,
    }


async def test_an_async_langgraph_run_is_recorded_token_by_token(server: RunningServer) -> None:
    async with Recorder(server.url) as recorder, recorder.session("lc-async") as session:
        handler = ReplaydeckCallbackHandler(session)
        graph = agent.build()
        inputs = {"messages": [HumanMessage(agent.QUESTION)]}
        async for _ in graph.astream(inputs, {"callbacks": [handler]}, stream_mode="messages"):
            pass
        await session.flush()
    events = events_of(server.url, "lc-async")
    assert_recorded_turn(events)
    # The handler's final is the session's end: the recorder adds none of its own.
    assert [e["type"] for e in events].count("final") == 1
    assert "synthetic" not in events[-1]["data"]


async def test_a_sync_run_in_a_worker_thread_and_turns_of_a_conversation(
    server: RunningServer,
) -> None:
    async with Recorder(server.url) as recorder:
        session = recorder.open("lc-thread")
        handler = ReplaydeckCallbackHandler(session, final=False)
        for _ in range(2):
            await anyio.to_thread.run_sync(agent.ask, agent.build(), {"callbacks": [handler]})
        await session.flush()
        await session.aclose()
    events = events_of(server.url, "lc-thread")
    ends = [i for i, e in enumerate(events) if e["type"] == "trace.end"]
    assert len(ends) == 2
    assert_recorded_turn(events[: ends[0] + 1], end="trace.end")
    assert_recorded_turn(events[ends[0] + 1 :], end="trace.end")


async def test_a_failing_tool_is_an_error_result(server: RunningServer) -> None:
    async with Recorder(server.url) as recorder, recorder.session("lc-broken") as session:
        handler = ReplaydeckCallbackHandler(session)
        graph = agent.build(tool_name="broken_tool")
        await graph.ainvoke({"messages": [HumanMessage(agent.QUESTION)]}, {"callbacks": [handler]})
        await session.flush()
    events = events_of(server.url, "lc-broken")
    result = next(e for e in events if e["type"] == "tool.result")
    assert result["data"]["is_error"] is True
    assert result["data"]["result"] == "ValueError: no weather station in Paris"
    assert events[-1]["type"] == "final"


async def test_a_failing_model_is_one_error_and_ends_the_session(server: RunningServer) -> None:
    async with Recorder(server.url) as recorder, recorder.session("lc-model-fails") as session:
        handler = ReplaydeckCallbackHandler(session)
        graph = agent.build(overloaded=True)
        inputs = {"messages": [HumanMessage(agent.QUESTION)]}
        with pytest.raises(ValueError, match="overloaded"):
            await graph.ainvoke(inputs, {"callbacks": [handler]})
        await session.flush()
    events = events_of(server.url, "lc-model-fails")
    # Raised in the model, passed up through the node and the graph: one error.
    errors = [e["data"]["message"] for e in events if e["type"] == "error"]
    assert errors == ["ValueError: the model is overloaded"]
    assert events[-1]["type"] == "final"
    assert events[-1]["data"]["reason"] == "error"
