"""Each adapter on a recorded sample of its format: detection, decoding to the standard
types, verbatim re-encoding of the capture, and synthesis from other sessions."""

from __future__ import annotations

import json
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest

from replaydeck.formats import (
    UnknownFormat,
    detect,
    make_decoder,
    make_encoder,
    normalize_format,
)
from replaydeck.formats.base import Captured
from replaydeck.formats.sse import SSEFrame, encode_frames, parse_all

SAMPLES = Path(__file__).parent / "samples"
FILES = {
    "openai-responses": "openai_responses.sse",
    "openai-chat": "openai_chat.sse",
    "vercel-ai": "vercel_ai.sse",
    "ag-ui": "ag_ui.sse",
}


def sample(fmt: str) -> list[SSEFrame]:
    return parse_all((SAMPLES / FILES[fmt]).read_bytes())


def capture(fmt: str, frames: list[SSEFrame]) -> list[Captured]:
    """What the capture records of one call: the decoder's events and, where the
    protocol's end is a turn's, the run's `final` after it (capture/runs.py)."""
    decoder = make_decoder(fmt)
    events = [event for frame in frames for event in decoder.decode(frame)]
    if decoder.ends_turns:
        events.append(Captured("final", {"reason": "complete", "turns": 1}))
    return events


def envelopes(events: list[Captured]) -> list[dict[str, Any]]:
    # What the store hands back: the same type and data, plus seq/ts bookkeeping.
    return [
        {
            "seq": i,
            "id": f"e{i}",
            "type": e.type,
            "ts": "2026-11-23T10:00:00Z",
            "offset_ms": float(i),
            "data": json.loads(json.dumps(e.data)),
        }
        for i, e in enumerate(events, 1)
    ]


def standard(events: list[Captured]) -> list[tuple[str, dict[str, Any]]]:
    capture_keys = {"raw", "raw_format"}
    return [
        (e.type, {k: v for k, v in e.data.items() if k not in capture_keys})
        for e in events
        if "." not in e.type or e.type in {"message.delta", "tool.call", "tool.result", "turn.end"}
    ]


@pytest.mark.parametrize("fmt", FILES)
def test_detects_the_sample_from_its_first_frame(fmt: str) -> None:
    assert detect(sample(fmt)[0]) == fmt


def test_detection_falls_back_to_plain_sse_and_uses_the_vercel_header() -> None:
    assert detect(SSEFrame(data='{"text": "hi"}', event="message.delta")) == "sse"
    assert detect(SSEFrame(data="not json")) == "sse"
    headers = {"X-Vercel-AI-UI-Message-Stream": "v1"}
    assert detect(SSEFrame(data='{"type":"custom"}'), headers) == "vercel-ai"


USAGE = {
    "input_tokens": 37,
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "output_tokens": 11,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 48,
}


def test_openai_sample_decodes_to_standard_events() -> None:
    events = capture("openai-responses", sample("openai-responses"))
    assert standard(events) == [
        ("status", {"label": "created"}),
        ("status", {"label": "in_progress"}),
        (
            "tool.call",
            {
                "name": "get_weather",
                "args": {"location": "Paris, France"},
                "call_id": "call_12345xyz",
            },
        ),
        ("message.delta", {"text": "It is 18°C", "message_id": "msg_67c9fdcf37fc"}),
        ("message.delta", {"text": " and sunny in Paris.", "message_id": "msg_67c9fdcf37fc"}),
        # One model call's end, not the session's: the run's `final` follows it.
        ("turn.end", {"usage": USAGE}),
        ("final", {"reason": "complete", "turns": 1}),
    ]
    assert "openai.response.function_call_arguments.delta" in [e.type for e in events]
    assert all(e.data["raw_format"] == "openai-responses" for e in events[:-1])


def test_openai_chat_sample_decodes_to_standard_events() -> None:
    events = capture("openai-chat", sample("openai-chat"))
    message = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert standard(events) == [
        ("message.delta", {"text": "Let me check ", "message_id": message}),
        ("message.delta", {"text": "the weather in Paris.", "message_id": message}),
        # Assembled from its pieces when the finish chunk arrives.
        (
            "tool.call",
            {
                "name": "get_weather",
                "args": {"location": "Paris, France"},
                "call_id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            },
        ),
        # `[DONE]` is the call's end, not an event: `turn.end`, with the usage chunk's counts.
        (
            "turn.end",
            {
                "usage": {"completion_tokens": 23, "prompt_tokens": 61, "total_tokens": 84},
                "finish_reasons": ["tool_calls"],
            },
        ),
        ("final", {"reason": "complete", "turns": 1}),
    ]
    assert [e.type for e in events].count("openai.chat.chunk") == 6
    assert all(e.data["raw_format"] == "openai-chat" for e in events[:-1])
    assert "raw" not in events[-2].data


def test_vercel_sample_decodes_to_standard_events() -> None:
    events = capture("vercel-ai", sample("vercel-ai"))
    assert standard(events) == [
        (
            "tool.call",
            {"name": "getWeather", "args": {"city": "Berlin"}, "call_id": "call_weather_1"},
        ),
        # The output part does not repeat the tool's name; the adapter remembers it.
        (
            "tool.result",
            {
                "name": "getWeather",
                "call_id": "call_weather_1",
                "result": {"temperature": 12, "sky": "cloudy"},
            },
        ),
        ("message.delta", {"text": "Berlin is ", "message_id": "txt-0"}),
        ("message.delta", {"text": "12°C and cloudy.", "message_id": "txt-0"}),
        ("final", {}),
    ]
    assert events[-1].type == "final"  # `[DONE]` follows `finish`; the encoder restores it


def test_ag_ui_sample_decodes_to_standard_events() -> None:
    events = capture("ag-ui", sample("ag-ui"))
    assert standard(events) == [
        ("status", {"label": "lookup"}),
        # Name from TOOL_CALL_START, arguments assembled from the TOOL_CALL_ARGS deltas.
        ("tool.call", {"name": "search_docs", "args": {"query": "sse retry"}, "call_id": "tc_1"}),
        ("tool.result", {"name": "search_docs", "call_id": "tc_1", "result": {"hits": 2}}),
        ("message.delta", {"text": "Two pages ", "message_id": "m_3"}),
        ("message.delta", {"text": "mention retry.", "message_id": "m_3"}),
        ("final", {}),
    ]
    assert [e.type for e in events].count("ag_ui.tool_call_args") == 2


@pytest.mark.parametrize("fmt", FILES)
def test_a_captured_session_encodes_back_to_the_same_bytes(fmt: str) -> None:
    original = (SAMPLES / FILES[fmt]).read_bytes()
    encoder = make_encoder(fmt, "s1")
    stored = envelopes(capture(fmt, sample(fmt)))
    frames = [frame for envelope in stored for frame in encoder.encode(envelope)]
    assert encode_frames(frames).decode() == original.decode()


@pytest.mark.parametrize(("source", "target"), list(permutations(FILES, 2)))
def test_synthesised_streams_decode_back_to_the_same_standard_events(
    source: str, target: str
) -> None:
    """A session captured in one format, replayed in another, means the same thing."""
    events = capture(source, sample(source))
    stored = [
        {**envelope, "data": {k: v for k, v in envelope["data"].items() if k != "raw_format"}}
        for envelope in envelopes(events)
    ]
    encoder = make_encoder(target, "s1")
    frames = [frame for envelope in stored for frame in encoder.encode(envelope)]
    assert detect(frames[0]) == target
    again = capture(target, frames)

    def meaning(items: list[Captured]) -> list[tuple[str, Any]]:
        keep = {"message.delta": ("text",), "tool.call": ("name", "args", "call_id")}
        # The OpenAI protocols carry no tool results in a model's stream.
        if not {source, target} & {"openai-responses", "openai-chat"}:
            keep["tool.result"] = ("name", "call_id", "result")
        said: list[tuple[str, Any]] = []
        for e in items:
            if e.type in keep:
                said.append((e.type, tuple(e.data.get(k) for k in keep[e.type])))
            elif e.type in ("turn.end", "final") and said[-1:] != [("end", ())]:
                said.append(("end", ()))  # a call's end, then the run's, is one end here
        return said

    assert meaning(again) == meaning(events)


def test_control_events_and_synthetic_finals_are_not_encoded() -> None:
    for fmt in ("sse", *FILES):
        encoder = make_encoder(fmt)
        assert encoder.encode({"type": "replay.end", "data": {"reason": "complete"}}) == []
        assert encoder.encode({"type": "final", "data": {"synthetic": True}}) == []


def test_plain_sse_decoding_rules() -> None:
    decoder = make_decoder("sse")
    frames = [
        SSEFrame(data='{"text": "hi"}', event="message.delta"),
        SSEFrame(data="plain words"),
        SSEFrame(data="[1, 2]", event="Token-Count"),
        SSEFrame(data='{"no": "label"}', event="status"),
        SSEFrame(data="{}", event="replay.end"),
    ]
    assert [(e.type, e.data) for f in frames for e in decoder.decode(f)] == [
        ("message.delta", {"text": "hi"}),
        (
            "sse.message",
            {"text": "plain words", "raw": "plain words", "raw_format": "sse", "sse_event": None},
        ),
        (
            "sse.token_count",
            {"value": [1, 2], "raw": "[1, 2]", "raw_format": "sse", "sse_event": "Token-Count"},
        ),
        ("sse.status", {"no": "label", "sse_event": "status"}),
        ("sse.replay.end", {"sse_event": "replay.end"}),
    ]
    stored = envelopes([e for f in frames for e in make_decoder("sse").decode(f)])
    encoder = make_encoder("sse")
    again = [fr for env in stored for fr in encoder.encode(env)]
    # The same event names and the same data; JSON objects may come back re-spaced.
    assert [(f.event, json.loads(f.data) if "{" in f.data else f.data) for f in again] == [
        (f.event, json.loads(f.data) if "{" in f.data else f.data) for f in frames
    ]


def test_format_names_are_normalised_and_unknown_ones_explained() -> None:
    assert normalize_format("OpenAI_Responses") == "openai-responses"
    assert normalize_format("vercel") == "vercel-ai"
    assert normalize_format("OpenAI_Chat_Completions") == "openai-chat"
    with pytest.raises(UnknownFormat, match="use one of: sse, openai-responses"):
        normalize_format("grpc")


def test_ag_ui_sends_app_events_as_custom_but_not_another_protocols_plumbing() -> None:
    encoder = make_encoder("ag-ui", "s1")
    own = {"type": "retrieval.hit", "data": {"doc": "d1"}}
    foreign = {
        "type": "openai.response.content_part.added",
        "data": {"raw": {}, "raw_format": "openai-responses"},
    }
    frames = [f for envelope in (own, foreign) for f in encoder.encode(envelope)]
    assert [json.loads(f.data)["type"] for f in frames] == ["RUN_STARTED", "CUSTOM"]
    assert json.loads(frames[1].data) == {
        "type": "CUSTOM",
        "name": "retrieval.hit",
        "value": {"doc": "d1"},
    }
