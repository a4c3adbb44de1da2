"""The official AG-UI event models (PyPI `ag-ui-protocol`) parse every frame of a
`?format=ag-ui` replay synthesised from standard events, from a real uvicorn, and the
run ends as the protocol requires: `RUN_ERROR` (its `code` a string) or `RUN_FINISHED`,
with nothing after it.

The Python package carries the models, not the TypeScript client's sequence verifier,
so the order rules it enforces (nothing after the run's end) are asserted here."""

from __future__ import annotations

from typing import Any

import httpx
from ag_ui.core import Event, RunErrorEvent, RunFinishedEvent
from pydantic import TypeAdapter

from replaydeck.formats.sse import parse_all
from tests.servers import RunningServer

AG_UI_EVENT: TypeAdapter[Any] = TypeAdapter(Event)


def replayed(server: RunningServer, session_id: str, events: list[dict[str, Any]]) -> list[Any]:
    appended = httpx.post(f"{server.url}/v1/sessions/{session_id}/events", json=events)
    assert appended.status_code == 200, appended.text
    replay = httpx.get(
        f"{server.url}/v1/sessions/{session_id}/replay", params={"speed": "max", "format": "ag-ui"}
    )
    assert replay.status_code == 200
    return [AG_UI_EVENT.validate_json(frame.data) for frame in parse_all(replay.content)]


def test_an_error_ends_the_run_with_a_string_code_and_nothing_after_it(
    server: RunningServer,
) -> None:
    events = replayed(
        server,
        "failed-run",
        [
            {"type": "message.delta", "data": {"text": "Let me ", "message_id": "m1"}},
            {"type": "error", "data": {"message": "rate limited", "code": 429}},
            {"type": "message.delta", "data": {"text": "retry", "message_id": "m1"}},
            {"type": "final", "data": {}},
        ],
    )
    assert [e.type.value for e in events] == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "RUN_ERROR",
    ]
    error = events[-1]
    assert isinstance(error, RunErrorEvent)
    assert (error.message, error.code) == ("rate limited", "429")


def test_a_whole_run_parses_frame_by_frame_and_finishes_once(server: RunningServer) -> None:
    events = replayed(
        server,
        "whole-run",
        [
            {"type": "status", "data": {"label": "searching"}},
            {"type": "reasoning.delta", "data": {"text": "Search first.", "message_id": "r1"}},
            {
                "type": "tool.call",
                "data": {"name": "search", "args": {"q": "sse"}, "call_id": "c1"},
            },
            {"type": "tool.result", "data": {"name": "search", "call_id": "c1", "result": [1]}},
            {"type": "message.delta", "data": {"text": "Found one.", "message_id": "m2"}},
            {"type": "retrieval.hit", "data": {"doc": "d1"}},
            {"type": "final", "data": {"usage": {"input_tokens": 3, "output_tokens": 2}}},
        ],
    )
    kinds = [e.type.value for e in events]
    assert kinds == [
        "RUN_STARTED",
        "CUSTOM",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "CUSTOM",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert isinstance(events[-1], RunFinishedEvent)
    assert events[-1].thread_id == "whole-run"
    assert [(u.input_tokens, u.output_tokens) for u in events[-1].usage or []] == [(3, 2)]


def test_each_turn_is_a_run_of_its_own_on_the_sessions_thread(server: RunningServer) -> None:
    def said(text: str, message_id: str) -> dict[str, Any]:
        return {"type": "message.delta", "data": {"text": text, "message_id": message_id}}

    events = replayed(
        server,
        "thread",
        [
            {"type": "user.message", "data": {"text": "One?"}},
            said("One.", "m1"),
            {"type": "turn.end", "data": {"usage": {"input_tokens": 5, "output_tokens": 1}}},
            said("Tw", "m2"),  # cut short: its run is left open until the next one starts
            {"type": "turn.end", "data": {"synthetic": True, "reason": "interrupted"}},
            said("Three.", "m3"),
            {"type": "error", "data": {"message": "overloaded"}},
            {"type": "turn.end", "data": {"synthetic": True, "reason": "eof"}},
            {"type": "turn.end", "data": {}},  # a turn with nothing in it is still a run
            {"type": "final", "data": {"reason": "idle", "turns": 4}},
        ],
    )
    assert [(e.type.value, getattr(e, "run_id", None)) for e in events] == [
        ("RUN_STARTED", "run_thread"),
        ("TEXT_MESSAGE_START", None),
        ("TEXT_MESSAGE_CONTENT", None),
        ("TEXT_MESSAGE_END", None),
        ("RUN_FINISHED", "run_thread"),
        ("RUN_STARTED", "run_thread_2"),
        ("TEXT_MESSAGE_START", None),
        ("TEXT_MESSAGE_CONTENT", None),
        ("RUN_ERROR", None),
        ("RUN_STARTED", "run_thread_3"),
        ("TEXT_MESSAGE_START", None),
        ("TEXT_MESSAGE_CONTENT", None),
        ("RUN_ERROR", None),
        ("RUN_STARTED", "run_thread_4"),
        ("RUN_FINISHED", "run_thread_4"),
    ]
    assert {e.thread_id for e in events if hasattr(e, "thread_id")} == {"thread"}
    assert [e.message for e in events if isinstance(e, RunErrorEvent)] == [
        "the call was cut short (interrupted)",
        "overloaded",
    ]
    assert [(u.input_tokens, u.output_tokens) for u in events[4].usage or []] == [(5, 1)]
