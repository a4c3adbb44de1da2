"""What a recorded weather-agent run must look like, whichever SDK recorded it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

QUESTION = "What is the weather in Paris?"
ANSWER = "It is sunny in Paris, 21 °C."
TOOL_OUTPUT = "sunny, 21 C in Paris"


async def read_events(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    page = await client.get(f"/v1/sessions/{session_id}/events", params={"limit": 1000})
    assert page.status_code == 200, page.text
    events: list[dict[str, Any]] = page.json()["events"]
    return events


async def check_recorded_run(
    client: httpx.AsyncClient, session_id: str, *, complete: bool = True
) -> list[dict[str, Any]]:
    """Assert the session holds the run: the user's question, the tool call and its
    result with a duration, the answer, and (complete) `final` with the run's usage;
    the trace has the tool span and the replay plays it all. Returns the events."""
    events = await read_events(client, session_id)
    session = (await client.get(f"/v1/sessions/{session_id}")).json()
    types = [e["type"] for e in events]
    assert session["metadata"]["workflow_name"] == "Weather workflow"
    (said,) = [e for e in events if e["type"] == "user.message"]
    assert said["data"]["text"] == QUESTION
    (call,) = [e for e in events if e["type"] == "tool.call"]
    (done,) = [e for e in events if e["type"] == "tool.result"]
    assert call["data"]["name"] == "get_weather"
    assert call["data"]["args"] == {"city": "Paris"}
    assert done["data"]["call_id"] == call["data"]["call_id"]
    assert done["data"]["result"] == TOOL_OUTPUT
    assert done["data"]["duration_ms"] >= 0
    gap = done["offset_ms"] - call["offset_ms"]
    assert gap == pytest.approx(done["data"]["duration_ms"], abs=0.002)
    deltas = [e for e in events if e["type"] == "message.delta"]
    assert "".join(d["data"]["text"] for d in deltas) == ANSWER
    assert types.index("tool.result") < types.index("message.delta")
    # The events keep the SDK's times, in order: the replay has the run's rhythm.
    offsets = [e["offset_ms"] for e in events]
    assert offsets == sorted(offsets)
    if complete:
        assert types[-1] == "final"
        assert session["status"] == "complete"
        usage = events[-1]["data"]["usage"]
        assert (usage["input_tokens"], usage["output_tokens"]) == (42, 14)

    document = (await client.get(f"/v1/sessions/{session_id}/trace")).json()
    names = {
        span["name"]
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    }
    assert "execute_tool get_weather" in names
    assert "invoke_agent Weather workflow" in names
    if complete:
        replay = await client.get(f"/v1/sessions/{session_id}/replay", params={"speed": "max"})
        assert replay.status_code == 200
        assert replay.text.count("event: message.delta") == len(deltas)
        assert "event: tool.result" in replay.text
        assert "event: final" in replay.text
    return events
