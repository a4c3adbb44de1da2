"""Clients in another language, on the real port: the official OpenAI Node SDK, the AI
SDK's own chat client and the AG-UI client.

The weather agent, written again in JavaScript (tests/js/upstream-openai/agent.mjs),
runs against the recording tests/examples plays through the Python SDK, and does
what the golden file says. The AI SDK's chat transport (what useChat uses) reads a
UI message stream that the AI SDK itself wrote, and the AG-UI HttpAgent the events
that @ag-ui/encoder wrote (tests/capture/samples).
"""

import json
from pathlib import Path

from replaydeck.testing import golden as golden_files
from replaydeck.testing.cassette import Chunk, Exchange, RecordedRequest, RecordedResponse
from replaydeck.testing.normalize import normalize
from replaydeck.testing.upstream import RecordedUpstream
from replaydeck.testing.upstream_server import serve_upstream
from tests.node import run_node

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "js" / "upstream-openai"
AI_SDK = ROOT / "tests" / "js" / "upstream-ai-sdk"
AG_UI = ROOT / "tests" / "js" / "upstream-ag-ui"
SAMPLES = ROOT / "tests" / "capture" / "samples"
RECORDING = ROOT / "tests" / "examples" / "upstreams" / "test_agent_upstream" / "weather.json"
GOLDEN = ROOT / "tests" / "examples" / "golden" / "weather_agent.jsonl"


def test_the_openai_node_sdk_runs_the_agent_on_the_recorded_upstream() -> None:
    upstream = RecordedUpstream(RECORDING)
    with serve_upstream(upstream) as url:
        output = run_node(SUITE, "openai", "agent.mjs", f"{url}/v1")
    events = [json.loads(line) for line in output.splitlines()]
    assert normalize(events) == golden_files.read(GOLDEN)
    assert not upstream.playlist.unplayed()
    assert not upstream.refused


def sample_upstream(sample: str, path: str, *headers: tuple[str, str]) -> RecordedUpstream:
    """A protocol's own stream (tests/capture/samples) as the recorded answer to a POST,
    one frame a chunk, a millisecond apart, played at that speed."""
    frames = (SAMPLES / sample).read_bytes().split(b"\n\n")[:-1]
    answer = RecordedResponse(
        200,
        (("content-type", "text/event-stream"), *headers),
        at_ms=5.0,
        chunks=tuple(Chunk(10.0 + i, frame + b"\n\n") for i, frame in enumerate(frames)),
    )
    request = RecordedRequest("POST", path, "application/json")
    return RecordedUpstream(exchanges=[Exchange(request, answer)], speed=1)


def test_the_ai_sdk_chat_client_reads_a_recorded_ui_message_stream() -> None:
    ui_stream = ("x-vercel-ai-ui-message-stream", "v1")
    upstream = sample_upstream("vercel_ai.sse", "/api/chat", ui_stream)
    with serve_upstream(upstream) as url:
        message = json.loads(run_node(AI_SDK, "ai", "chat.mjs", f"{url}/api/chat"))
    assert message["role"] == "assistant"
    tool, text = [p for p in message["parts"] if p["type"] not in ("step-start",)]
    assert (tool["type"], tool["state"]) == ("tool-getWeather", "output-available")
    assert (tool["input"], tool["output"]) == (
        {"city": "Berlin"},
        {"temperature": 12, "sky": "cloudy"},
    )
    assert (text["type"], text["text"]) == ("text", "Berlin is 12°C and cloudy.")
    assert not upstream.playlist.unplayed()


def test_the_ag_ui_client_runs_an_agent_on_a_recorded_event_stream() -> None:
    upstream = sample_upstream("ag_ui.sse", "/agent")
    with serve_upstream(upstream) as url:
        messages = json.loads(run_node(AG_UI, "@ag-ui/client", "run.mjs", f"{url}/agent"))
    call, result, answer = messages
    assert call["toolCalls"][0]["function"] == {
        "name": "search_docs",
        "arguments": '{"query": "sse retry"}',
    }
    assert (result["role"], result["toolCallId"], result["content"]) == (
        "tool",
        "tc_1",
        '{"hits": 2}',
    )
    assert (answer["role"], answer["content"]) == ("assistant", "Two pages mention retry.")
    assert not upstream.playlist.unplayed()
