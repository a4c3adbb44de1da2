"""replaydeck.integrations.openai_agents with the real SDK, recording into a real server."""

from __future__ import annotations

import anyio
import httpx
import pytest
from agents import Runner, trace
from agents.stream_events import RawResponsesStreamEvent

from replaydeck.capture.sdk import Recorder
from replaydeck.integrations.openai_agents import ReplaydeckTracingProcessor, record_stream
from tests.servers import RunningServer
from tests.telemetry.agents_app import PIECES, tracing_to, weather_agent
from tests.telemetry.recorded_run import ANSWER, QUESTION, check_recorded_run, read_events

pytestmark = pytest.mark.anyio


async def test_the_tracing_processor_records_each_trace(server: RunningServer) -> None:
    recorder = Recorder(server.url)
    with tracing_to(ReplaydeckTracingProcessor(recorder)), trace("Weather workflow") as current:
        result = await Runner.run(weather_agent(), QUESTION)
    assert result.final_output == ANSWER
    with anyio.fail_after(20):
        await recorder.aclose()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        await check_recorded_run(client, current.trace_id)


async def test_record_stream_records_token_by_token_and_passes_everything_on(
    server: RunningServer,
) -> None:
    recorder = Recorder(server.url)
    seen = []
    with tracing_to():
        async with recorder.session("chat-1") as session:
            result = Runner.run_streamed(weather_agent(), QUESTION)
            async for event in record_stream(result, session):
                seen.append(event)
    await recorder.aclose()
    texts = [
        event.data.delta
        for event in seen
        if isinstance(event, RawResponsesStreamEvent)
        and event.data.type == "response.output_text.delta"
    ]
    assert texts == list(PIECES)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        events = await read_events(client, "chat-1")
    types = [e["type"] for e in events]
    assert [e["data"]["text"] for e in events if e["type"] == "message.delta"] == list(PIECES)
    (call,) = [e for e in events if e["type"] == "tool.call"]
    (done,) = [e for e in events if e["type"] == "tool.result"]
    assert call["data"] == {"name": "get_weather", "args": {"city": "Paris"}, "call_id": "call_1"}
    assert done["data"]["result"] == "sunny, 21 C in Paris"
    assert done["data"]["name"] == "get_weather"
    assert types.index("tool.result") < types.index("message.delta")
    assert types[0] == "status"
    assert events[0]["data"]["label"] == "agent Weather"
    assert types[-1] == "final"
    assert events[-1]["data"]["usage"]["input_tokens"] == 42
    assert events[-1]["data"]["usage"]["output_tokens"] == 14
    # Recorded as they arrived: each delta has its own time, in order.
    offsets = [e["offset_ms"] for e in events]
    assert offsets == sorted(offsets)
