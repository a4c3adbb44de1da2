"""The official JavaScript clients read replaydeck's `?format=` replays from a real
uvicorn: the `openai` SDK (`responses.stream`, `chat.completions.stream`), the `ai`
package's chat transport with `readUIMessageStream`, and `@ag-ui/client`'s `HttpAgent`.

Each client gets a `fetch` that answers its own request with the replay
(tests/js/protocols/read.mjs), so the client's whole stack parses, validates and
assembles replaydeck's bytes. A session of standard events, appended over HTTP, comes
back from each as the same text, tool call, tool result and usage, at `speed=max` and at
speed 1 through the keep-alives of a gap.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from replaydeck.config import Settings
from replaydeck.formats import make_decoder
from replaydeck.formats.sse import parse_all
from tests.node import run_node
from tests.servers import RunningServer

SUITE = Path(__file__).resolve().parents[1] / "js" / "protocols"
FORMATS = ["openai-responses", "openai-chat", "vercel-ai", "ag-ui"]

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GAP = 0.3  # seconds before the tool call: several heartbeats at speed 1
HEARTBEAT = 0.05


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


SESSION = [
    {"type": "user.message", "data": {"text": "Weather in Berlin?"}, "ts": at(0)},
    {
        "type": "reasoning.delta",
        "data": {"text": "Needs a tool.", "message_id": "r1"},
        "ts": at(0.005),
    },
    {"type": "message.delta", "data": {"text": "Let me ", "message_id": "m1"}, "ts": at(0.01)},
    {"type": "message.delta", "data": {"text": "look.", "message_id": "m1"}, "ts": at(0.02)},
    {
        "type": "tool.call",
        "data": {"name": "get_weather", "args": {"city": "Berlin"}, "call_id": "call_1"},
        "ts": at(0.02 + GAP),
    },
    {
        "type": "tool.result",
        "data": {"name": "get_weather", "call_id": "call_1", "result": {"celsius": 12}},
        "ts": at(0.03 + GAP),
    },
    {
        "type": "message.delta",
        "data": {"text": " It is 12°C.", "message_id": "m2"},
        "ts": at(0.04 + GAP),
    },
    {
        "type": "final",
        "data": {"usage": {"input_tokens": 21, "output_tokens": 9}},
        "ts": at(0.05 + GAP),
    },
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Short heartbeats, so the gap at speed 1 carries several.
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/replaydeck.db",
        heartbeat_interval=HEARTBEAT,
    )


def read_with_js_client(fmt: str, url: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(run_node(SUITE, "openai", "read.mjs", fmt, url))
    return result


# Where each client finds the input and output token counts: each protocol's own names
# (the AI SDK's LanguageModelUsage and AG-UI's TokenUsage agree on theirs).
TOKEN_NAMES = {
    "openai-responses": ("input_tokens", "output_tokens"),
    "openai-chat": ("prompt_tokens", "completion_tokens"),
    "vercel-ai": ("inputTokens", "outputTokens"),
    "ag-ui": ("inputTokens", "outputTokens"),
}


def token_counts(fmt: str, usage: dict[str, Any]) -> tuple[int | None, int | None]:
    """Input and output tokens under the protocol's own names; None where absent."""
    given, taken = TOKEN_NAMES[fmt]
    return usage.get(given), usage.get(taken)


@pytest.fixture
def recorded(server: RunningServer) -> str:
    response = httpx.post(f"{server.url}/v1/sessions/weather/events", json=SESSION)
    assert response.status_code == 200, response.text
    return f"{server.url}/v1/sessions/weather/replay"


@pytest.mark.parametrize("speed", ["max", "1"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_official_js_client_reads_the_replay(recorded: str, fmt: str, speed: str) -> None:
    url = f"{recorded}?format={fmt}&speed={speed}"
    if speed == "1":
        assert b": keep-alive\n" in httpx.get(url).content
    got = read_with_js_client(fmt, url)
    assert got["text"] == "Let me look. It is 12°C."
    assert got["toolCalls"] == [{"id": "call_1", "name": "get_weather", "args": {"city": "Berlin"}}]
    if fmt in ("vercel-ai", "ag-ui"):
        # The OpenAI protocols carry no tool results: the app runs its tools between calls.
        assert got["toolResults"] == [{"id": "call_1", "result": {"celsius": 12}}]
    if fmt != "openai-chat":
        # Chat Completions has no place for reasoning; Responses has a reasoning item.
        assert got["reasoning"] == "Needs a tool."
    if fmt == "openai-responses":
        assert got["items"] == ["reasoning", "message", "function_call", "message"]
    assert token_counts(fmt, got["usage"]) == (21, 9)


def test_the_ai_sdk_client_gets_the_usage_names_the_live_stream_gave_it(
    server: RunningServer,
) -> None:
    # The AI SDK's own stream (streamText's usage in the message metadata), decoded as
    # the capture decodes it: with each part kept (`raw`), as a captured session holds
    # it, and without, as a session recorded by other means holds the same events.
    body = run_node(SUITE, "ai", "usage.mjs")
    frames = parse_all(body.encode())
    live = orjson.loads(frames[-2].data)["messageMetadata"]["usage"]
    assert live["inputTokenDetails"]["cacheReadTokens"] == 10  # ai 7's names, nested
    decoder = make_decoder("vercel-ai")
    captured = [{"type": e.type, "data": e.data} for frame in frames for e in decoder.decode(frame)]
    elsewhere = [
        {"type": e["type"], "data": {k: v for k, v in e["data"].items() if "raw" not in k}}
        for e in captured
        if not e["type"].startswith("vercel.")
    ]
    for session, events in (("captured", captured), ("elsewhere", elsewhere)):
        response = httpx.post(f"{server.url}/v1/sessions/{session}/events", json=events)
        assert response.status_code == 200, response.text
        url = f"{server.url}/v1/sessions/{session}/replay?format=vercel-ai&speed=max"
        got = read_with_js_client("vercel-ai", url)
        assert got["usage"] == live, session
        assert got["text"] == "Sunny."
        assert got["reasoning"] == "Short answer."
    # In the other protocols, the same counts under their names.
    url = f"{server.url}/v1/sessions/captured/replay?format=openai-responses&speed=max"
    usage = read_with_js_client("openai-responses", url)["usage"]
    assert usage["input_tokens_details"]["cached_tokens"] == 10
    assert usage["output_tokens_details"]["reasoning_tokens"] == 4
    url = f"{server.url}/v1/sessions/captured/replay?format=ag-ui&speed=max"
    usage = read_with_js_client("ag-ui", url)["usage"]
    assert (usage["cachedInputTokens"], usage["reasoningTokens"]) == (10, 4)


def said(text: str, message_id: str, seconds: float) -> dict[str, Any]:
    return {
        "type": "message.delta",
        "data": {"text": text, "message_id": message_id},
        "ts": at(seconds),
    }


TURNS = [
    {"type": "user.message", "data": {"text": "One?"}, "ts": at(0)},
    said("One.", "m1", 0.01),
    {
        "type": "turn.end",
        "data": {"usage": {"input_tokens": 5, "output_tokens": 1}},
        "ts": at(0.02),
    },
    {"type": "user.message", "data": {"text": "Two?"}, "ts": at(0.03)},
    said("Tw", "m2", 0.04),
    {"type": "turn.end", "data": {"synthetic": True, "reason": "interrupted"}, "ts": at(0.05)},
    {"type": "user.message", "data": {"text": "Three?"}, "ts": at(0.06)},
    said("Three.", "m3", 0.07),
    {
        "type": "turn.end",
        "data": {"usage": {"input_tokens": 7, "output_tokens": 2}},
        "ts": at(0.08),
    },
    {
        "type": "final",
        "data": {"reason": "idle", "turns": 3, "usage": {"input_tokens": 12, "output_tokens": 3}},
        "ts": at(0.09),
    },
]


@pytest.mark.parametrize("fmt", ["vercel-ai", "ag-ui"])
def test_the_official_js_client_reads_a_session_of_several_turns(
    server: RunningServer, fmt: str
) -> None:
    response = httpx.post(f"{server.url}/v1/sessions/chat/events", json=TURNS)
    assert response.status_code == 200, response.text
    url = f"{server.url}/v1/sessions/chat/replay?format={fmt}&speed=max"
    turns = json.loads(run_node(SUITE, "ai", "read.mjs", f"{fmt}-turns", url))
    assert [t["text"] for t in turns] == ["One.", "Tw", "Three."]
    counts = [token_counts(fmt, t.get("usage") or {}) for t in turns]
    assert counts == [(5, 1), (None, None), (7, 2)]
    if fmt == "vercel-ai":
        # One assistant message a turn; the one cut short got no `finish`.
        assert [t["id"] for t in turns] == ["msg_chat", "msg_chat_2", "msg_chat_3"]
    else:
        # One run a turn on the session's thread; the one cut short ends in an error.
        assert [t["runId"] for t in turns] == ["run_chat", "run_chat_2", "run_chat_3"]
        assert [t.get("error") for t in turns] == [
            None,
            "the call was cut short (interrupted)",
            None,
        ]
