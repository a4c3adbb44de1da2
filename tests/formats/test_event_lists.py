"""The decoders know each protocol's current event list: payloads built with the
protocols' own Python models (`openai` response stream events and output items, PyPI
`ag-ui-protocol` 1.0 events written by its `EventEncoder`, and a UI message stream the
`ai` package writes itself, tests/js/protocols/parts.mjs) decode to the standard type
where one fits, or to a typed custom event, and a captured stream still encodes back
frame for frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from ag_ui.core import (
    ActivitySnapshotEvent,
    Interrupt,
    ReasoningMessageContentEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunStartedEvent,
    TokenUsage,
    ToolCallChunkEvent,
)
from ag_ui.core import (
    BaseEvent as AGUIEvent,
)
from ag_ui.encoder import EventEncoder
from openai.types.responses import (
    ResponseCustomToolCall,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseOutputItemDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningTextDeltaEvent,
)
from openai.types.responses.response_output_item import McpCall
from pydantic import BaseModel

from replaydeck.formats import make_decoder, make_encoder
from replaydeck.formats.base import Captured, standard_usage
from replaydeck.formats.sse import SSEFrame, encode_frames, parse_all
from tests.node import run_node

JS_SUITE = Path(__file__).resolve().parents[1] / "js" / "protocols"


def decoded(fmt: str, frames: list[SSEFrame]) -> list[Captured]:
    decoder = make_decoder(fmt)
    return [event for frame in frames for event in decoder.decode(frame)]


def plain(event: Captured) -> tuple[str, dict[str, Any]]:
    return event.type, {k: v for k, v in event.data.items() if k not in ("raw", "raw_format")}


def encodes_back(fmt: str, frames: list[SSEFrame], events: list[Captured]) -> None:
    encoder = make_encoder(fmt, "s1")
    stored = [{"seq": i, "type": e.type, "data": e.data} for i, e in enumerate(events, 1)]
    again = [frame for envelope in stored for frame in encoder.encode(envelope)]
    assert encode_frames(again) == encode_frames(frames)


# --- OpenAI Responses ------------------------------------------------------------------


def responses_frames(*events: BaseModel) -> list[SSEFrame]:
    return [
        SSEFrame(data=event.model_dump_json(exclude_none=True), event=event.type)
        for event in events
    ]


def item_done(item: BaseModel, seq: int) -> ResponseOutputItemDoneEvent:
    return ResponseOutputItemDoneEvent.model_validate(
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "sequence_number": seq,
            "item": item.model_dump(exclude_none=True),
        }
    )


def test_responses_reasoning_mcp_and_custom_tools_decode_to_standard_types() -> None:
    frames = responses_frames(
        ResponseReasoningSummaryTextDeltaEvent(
            type="response.reasoning_summary_text.delta",
            delta="Weather needs ",
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            sequence_number=1,
        ),
        ResponseReasoningTextDeltaEvent(
            type="response.reasoning_text.delta",
            delta="a lookup.",
            item_id="rs_1",
            output_index=0,
            content_index=0,
            sequence_number=2,
        ),
        ResponseFunctionCallArgumentsDeltaEvent(
            type="response.function_call_arguments.delta",
            delta='{"city"',
            item_id="fc_1",
            output_index=1,
            sequence_number=3,
        ),
        item_done(
            McpCall(
                type="mcp_call",
                id="mcp_1",
                name="forecast",
                arguments='{"city": "Berlin"}',
                server_label="weather",
                output="12°C",
            ),
            4,
        ),
        item_done(
            ResponseCustomToolCall(
                type="custom_tool_call", call_id="ct_1", name="sql", input="SELECT 1"
            ),
            5,
        ),
    )
    events = decoded("openai-responses", frames)
    assert [plain(e) for e in events] == [
        ("reasoning.delta", {"text": "Weather needs ", "message_id": "rs_1"}),
        ("reasoning.delta", {"text": "a lookup.", "message_id": "rs_1"}),
        ("openai.response.function_call_arguments.delta", {}),
        (
            "tool.call",
            {
                "name": "forecast",
                "args": {"city": "Berlin"},
                "call_id": "mcp_1",
                "server_label": "weather",
            },
        ),
        (
            "tool.result",
            {"name": "forecast", "call_id": "mcp_1", "result": "12°C", "server_label": "weather"},
        ),
        ("tool.call", {"name": "sql", "args": {"input": "SELECT 1"}, "call_id": "ct_1"}),
    ]
    encodes_back("openai-responses", frames, events)


# --- AG-UI 1.0 -------------------------------------------------------------------------


def ag_ui_frames(*events: AGUIEvent) -> list[SSEFrame]:
    encoder = EventEncoder()
    return parse_all("".join(encoder.encode(event) for event in events).encode())


def test_ag_ui_chunks_reasoning_activity_and_an_interrupted_run() -> None:
    frames = ag_ui_frames(
        RunStartedEvent(thread_id="t1", run_id="r1"),
        ReasoningMessageContentEvent(message_id="rm_1", delta="Needs a tool."),
        ToolCallChunkEvent(tool_call_id="c1", tool_call_name="get_weather", delta='{"city":'),
        ToolCallChunkEvent(delta=' "Berlin"}'),
        ToolCallChunkEvent(tool_call_id="c2", tool_call_name="book", delta="{}"),
        ActivitySnapshotEvent(message_id="a1", activity_type="PLAN", content={"steps": 2}),
        RunFinishedEvent(
            thread_id="t1",
            run_id="r1",
            outcome=RunFinishedInterruptOutcome(
                type="interrupt",
                interrupts=[Interrupt(id="i1", reason="approval", tool_call_id="c2")],
            ),
            usage=[
                TokenUsage(model="a", input_tokens=10, output_tokens=3, reasoning_tokens=1),
                TokenUsage(model="b", input_tokens=5, output_tokens=2),
            ],
        ),
    )
    events = decoded("ag-ui", frames)
    assert [plain(e) for e in events] == [
        ("ag_ui.run_started", {}),
        ("reasoning.delta", {"text": "Needs a tool.", "message_id": "rm_1"}),
        ("ag_ui.tool_call_chunk", {}),
        ("ag_ui.tool_call_chunk", {}),
        ("tool.call", {"name": "get_weather", "args": {"city": "Berlin"}, "call_id": "c1"}),
        ("ag_ui.tool_call_chunk", {}),
        ("tool.call", {"name": "book", "args": {}, "call_id": "c2"}),
        ("ag_ui.activity_snapshot", {}),
        (
            "final",
            {
                "usage": {
                    "input_tokens": 15,
                    "output_tokens": 5,
                    "output_tokens_details": {"reasoning_tokens": 1},
                },
                "outcome": "interrupt",
                "interrupts": [{"id": "i1", "reason": "approval", "toolCallId": "c2"}],
            },
        ),
    ]
    encodes_back("ag-ui", frames, events)


# --- AI SDK UI message stream ----------------------------------------------------------


def test_ai_sdk_approval_denial_reasoning_and_data_parts() -> None:
    body = run_node(JS_SUITE, "ai", "parts.mjs")
    frames = parse_all(body.encode())
    events = decoded("vercel-ai", frames)
    assert [plain(e) for e in events] == [
        ("vercel.start", {}),
        ("vercel.reasoning_start", {}),
        ("reasoning.delta", {"text": "Needs the weather.", "message_id": "r1"}),
        ("vercel.reasoning_end", {}),
        ("tool.call", {"name": "bookFlight", "args": {"to": "Berlin"}, "call_id": "c1"}),
        ("vercel.tool_approval_request", {}),
        (
            "tool.result",
            {
                "name": "bookFlight",
                "call_id": "c1",
                "result": None,
                "is_error": True,
                "denied": True,
            },
        ),
        ("vercel.data_weather", {}),
        # The app's usage under the standard names; the frame itself is kept as sent.
        ("final", {"usage": {"input_tokens": 8}}),
    ]
    encodes_back("vercel-ai", frames, events)


def test_ai_sdk_usage_is_stored_under_the_standard_names() -> None:
    # streamText's own LanguageModelUsage (ai 7), sent as the message's metadata.
    frames = parse_all(run_node(JS_SUITE, "ai", "usage.mjs").encode())
    events = decoded("vercel-ai", frames)
    assert plain(events[-1]) == (
        "final",
        {
            "usage": {
                "input_tokens": 30,
                "input_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 0},
                "output_tokens": 12,
                "output_tokens_details": {"reasoning_tokens": 4},
                "total_tokens": 42,
                # No standard name: kept as the app sent them.
                "inputTokenDetails": {"noCacheTokens": 20},
                "outputTokenDetails": {"textTokens": 8},
            }
        },
    )
    encodes_back("vercel-ai", frames, events)


def test_flat_ai_sdk_usage_names_map_and_unknown_keys_stay() -> None:
    # The names of ai 5 and 6 (and of AG-UI's TokenUsage), an app's own key, a null count.
    usage = {
        "inputTokens": 8,
        "outputTokens": 3,
        "totalTokens": 11,
        "reasoningTokens": 1,
        "cachedInputTokens": 2,
        "cacheWriteInputTokens": None,
        "costUsd": 0.002,
    }
    assert standard_usage(usage) == {
        "input_tokens": 8,
        "input_tokens_details": {"cached_tokens": 2},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 11,
        "costUsd": 0.002,
    }
    # Standard names are left as they are.
    assert standard_usage(standard_usage(usage)) == standard_usage(usage)


def test_reasoning_and_a_denied_call_are_synthesised_into_ai_sdk_parts() -> None:
    events = decoded("vercel-ai", parse_all(run_node(JS_SUITE, "ai", "parts.mjs").encode()))
    encoder = make_encoder("vercel-ai", "s1")
    standard = [
        {"seq": i, "type": e.type, "data": dict(plain(e)[1])}
        for i, e in enumerate(events, 1)
        if "." not in e.type or e.type in ("reasoning.delta", "tool.call", "tool.result")
    ]
    kinds = [
        orjson.loads(frame.data)["type"] if frame.data != "[DONE]" else frame.data
        for envelope in standard
        for frame in encoder.encode(envelope)
    ]
    assert kinds == [
        "start",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "tool-input-available",
        "tool-output-denied",
        "finish",
        "[DONE]",
    ]
