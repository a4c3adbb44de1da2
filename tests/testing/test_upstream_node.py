"""Clients in another language, on the real port: the official OpenAI Node SDK and the
AI SDK's own chat client.

The weather agent, written again in JavaScript (tests/js/upstream-openai/agent.mjs),
runs against the recording tests/examples plays through the Python SDK, and does
what the golden file says. The AI SDK's chat transport (what useChat uses) reads a
UI message stream that the AI SDK itself wrote (tests/capture/samples/vercel_ai.sse).
"""

import json
import shutil
import subprocess
from pathlib import Path

from replaydeck.testing import golden as golden_files
from replaydeck.testing.cassette import Chunk, Exchange, RecordedRequest, RecordedResponse
from replaydeck.testing.normalize import normalize
from replaydeck.testing.upstream import RecordedUpstream
from replaydeck.testing.upstream_server import serve_upstream
from tests.needs import missing

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "js" / "upstream-openai"
AI_SDK = ROOT / "tests" / "js" / "upstream-ai-sdk"
UI_STREAM = ROOT / "tests" / "capture" / "samples" / "vercel_ai.sse"
RECORDING = ROOT / "tests" / "examples" / "upstreams" / "test_agent_upstream" / "weather.json"
GOLDEN = ROOT / "tests" / "examples" / "golden" / "weather_agent.jsonl"


def run_node(suite: Path, package: str, *args: str) -> str:
    node = shutil.which("node")
    if node is None or not (suite / "node_modules" / package).is_dir():
        missing(f"node and the {package} npm package are needed: run scripts/node-deps")
    done = subprocess.run(
        [str(node), *args], cwd=suite, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_openai_node_sdk_runs_the_agent_on_the_recorded_upstream() -> None:
    upstream = RecordedUpstream(RECORDING)
    with serve_upstream(upstream) as url:
        output = run_node(SUITE, "openai", "agent.mjs", f"{url}/v1")
    events = [json.loads(line) for line in output.splitlines()]
    assert normalize(events) == golden_files.read(GOLDEN)
    assert not upstream.playlist.unplayed()
    assert not upstream.refused


def test_the_ai_sdk_chat_client_reads_a_recorded_ui_message_stream() -> None:
    frames = UI_STREAM.read_bytes().split(b"\n\n")[:-1]
    answer = RecordedResponse(
        200,
        (("content-type", "text/event-stream"), ("x-vercel-ai-ui-message-stream", "v1")),
        at_ms=5.0,
        chunks=tuple(Chunk(10.0 + i, frame + b"\n\n") for i, frame in enumerate(frames)),
    )
    chat = Exchange(RecordedRequest("POST", "/api/chat", "application/json"), answer)
    upstream = RecordedUpstream(exchanges=[chat], speed=1)
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
