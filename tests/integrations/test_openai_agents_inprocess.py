"""replaydeck.integrations.openai_agents with the real SDK, recording into a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from agents import Agent, Runner, trace
from agents.stream_events import RawResponsesStreamEvent
from agents.tracing import Span, Trace, TracingProcessor

from replaydeck.capture.sdk import Recorder
from replaydeck.config import Settings
from replaydeck.integrations.openai_agents import ReplaydeckTracingProcessor, record_stream
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve
from tests.telemetry.agents_app import PIECES, responses_agent, tracing_to, weather_agent
from tests.telemetry.recorded_run import ANSWER, QUESTION, check_recorded_run, read_events

pytestmark = pytest.mark.anyio


async def run_recorded(server: RunningServer, agent: Agent[Any], *also: TracingProcessor) -> str:
    """Run `agent` with the processor recording into `server`; check the session it
    made holds the whole run; return the trace id."""
    recorder = Recorder(server.url)
    with (
        tracing_to(ReplaydeckTracingProcessor(recorder), *also),
        trace("Weather workflow") as current,
    ):
        result = await Runner.run(agent, QUESTION)
    assert result.final_output == ANSWER
    with anyio.fail_after(20):
        await recorder.aclose()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        await check_recorded_run(client, current.trace_id)
    return current.trace_id


async def test_the_tracing_processor_records_each_trace(server: RunningServer) -> None:
    await run_recorded(server, weather_agent())


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


class Keep(TracingProcessor):
    """What the SDK's exporters would post: each trace at its start, each span at its end."""

    def __init__(self, into: list[dict[str, Any]]) -> None:
        self.into = into

    def on_trace_start(self, trace: Trace) -> None:
        self.into.append(trace.export() or {})

    def on_trace_end(self, trace: Trace) -> None:
        pass

    def on_span_start(self, span: Span[Any]) -> None:
        pass

    def on_span_end(self, span: Span[Any]) -> None:
        self.into.append(span.export() or {})

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


async def test_a_responses_model_run_has_its_text_only_in_process(
    server: RunningServer, tmp_path: Path
) -> None:
    # The exporters send a response span's id and usage, not its text: the ingest
    # records the run without the answer, the in-process processor with it.
    exported: list[dict[str, Any]] = []
    trace_id = await run_recorded(server, responses_agent(), Keep(exported))

    # The same trace through the ingest of another server: all but the text.
    other = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/other.db"))
    with serve(other) as ingest:
        async with httpx.AsyncClient(base_url=ingest.url, timeout=10) as client:
            sent = await client.post("/v1/traces/ingest", json={"data": exported})
            assert sent.status_code == 200, sent.text
            events = await read_events(client, trace_id)
    types = [e["type"] for e in events]
    assert "message.delta" not in types
    assert types.count("tool.call") == types.count("tool.result") == 1
    usage = [e["data"] for e in events if e["type"] == "agents.usage"]
    assert [u["usage"]["input_tokens"] for u in usage] == [12, 30]
    assert all(u["response_id"].startswith("resp_") for u in usage)
    assert types[-1] == "final"
    assert events[-1]["data"]["usage"]["input_tokens"] == 42


async def test_the_processor_records_a_group_s_traces_in_one_open_session(
    server: RunningServer,
) -> None:
    recorder = Recorder(server.url)
    with tracing_to(ReplaydeckTracingProcessor(recorder)):
        for _ in range(2):
            with trace("Weather workflow", group_id="thread-9"):
                await Runner.run(weather_agent(), QUESTION)
    with anyio.fail_after(20):
        await recorder.aclose()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        events = await read_events(client, "thread-9")
        session = (await client.get("/v1/sessions/thread-9")).json()
    types = [e["type"] for e in events]
    assert session["status"] == "open"
    assert types.count("trace.end") == 2
    assert types[-1] == "trace.end"
    assert types.count("message.delta") == 2
    assert "final" not in types


def test_a_trace_begun_outside_an_event_loop_is_skipped_with_a_warning(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The Recorder sends from an event loop; a trace begun before one has none.
    processor = ReplaydeckTracingProcessor(Recorder(server.url))
    with tracing_to(processor), trace("Weather workflow") as current:
        result = asyncio.run(Runner.run(weather_agent(), QUESTION))
    assert result.final_output == ANSWER
    assert f"trace {current.trace_id} began outside an event loop" in caplog.text
    assert httpx.get(f"{server.url}/v1/sessions/{current.trace_id}").status_code == 404
