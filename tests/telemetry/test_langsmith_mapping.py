"""replaydeck.telemetry.langsmith: runs → events, pure, on the shapes the SDKs send."""

from __future__ import annotations

from typing import Any

import pytest

from replaydeck.errors import InvalidEvent
from replaydeck.events import parse_ts
from replaydeck.telemetry.langsmith import (
    run_events,
    timed_text,
    trace_end,
    usage_of,
    user_text,
)
from replaydeck.telemetry.langsmith_runs import Run, merge_runs, parse_run

T0 = parse_ts("2026-11-23T10:00:00Z")


def llm(text: str = "one two three four", **fields: Any) -> Run:
    message = {"lc": 1, "type": "constructor", "id": ["AIMessage"], "kwargs": {"content": text}}
    return Run(
        id="m",
        trace_id="t",
        parent_run_id="t",
        run_type="llm",
        start_us=T0,
        end_us=T0 + 400_000,
        outputs={"generations": [[{"text": text, "message": message}]]},
        **fields,
    )


def token(ms: int, text: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"name": "new_token", "time": f"2026-11-23T10:00:00.{ms:03d}Z"}
    if text is not None:
        event["kwargs"] = {"token": text}
    return event


def test_tokens_with_their_text_are_deltas_at_their_own_times() -> None:
    run = llm(events=[token(100, "one "), token(250, "two"), {"name": "start"}])
    assert timed_text(run) == [(T0 + 100_000, "one ", True), (T0 + 250_000, "two", True)]


def test_one_token_time_spreads_the_words_from_it_to_the_end() -> None:
    # What Python's LangChain tracer sends: the first token's time, no text.
    pieces = timed_text(llm(events=[token(100)]))
    assert [(at - T0) // 1000 for at, _, _ in pieces] == [100, 200, 300, 400]
    assert [text for _, text, _ in pieces] == ["one ", "two ", "three ", "four"]
    assert {recorded for _, _, recorded in pieces} == {False}


def test_many_token_times_carry_the_words_in_order() -> None:
    # What LangChain JS sends: every token's time, no text.
    pieces = timed_text(llm(events=[token(ms) for ms in (50, 60, 70, 80, 90, 99)]))
    assert "".join(text for _, text, _ in pieces) == "one two three four"
    assert [(at - T0) // 1000 for at, _, _ in pieces] == [50, 60, 80, 90]


def test_an_unstreamed_answer_is_one_delta_at_the_end() -> None:
    assert timed_text(llm()) == [(T0 + 400_000, "one two three four", True)]
    assert timed_text(llm(text="")) == []


def test_a_long_answer_is_at_most_256_deltas() -> None:
    pieces = timed_text(llm(text="w " * 1000, events=[token(1)]))
    assert len(pieces) == 256
    assert "".join(text for _, text, _ in pieces) == "w " * 1000


@pytest.mark.parametrize(
    ("inputs", "text"),
    [
        ({"messages": [{"type": "human", "content": "hi"}]}, "hi"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, "hi"),
        ({"messages": [["user", "hi"]]}, "hi"),
        ({"messages": [[{"lc": 1, "id": ["HumanMessage"], "kwargs": {"content": "hi"}}]]}, "hi"),
        ({"messages": [{"type": "ai", "content": "not the user"}]}, None),
        ({"question": "hi"}, "hi"),
        ({"input": 5}, None),
        ({}, None),
    ],
)
def test_the_users_message_from_the_root_inputs(inputs: dict[str, Any], text: str | None) -> None:
    assert user_text(Run(id="r", trace_id="r", inputs=inputs)) == text


@pytest.mark.parametrize(
    ("run", "usage"),
    [
        (Run("r", "t", extra={"metadata": {"usage_metadata": {"input_tokens": 3}}}),
         {"input_tokens": 3}),
        (Run("r", "t", outputs={"usage": {"prompt_tokens": 2, "completion_tokens": 1}}),
         {"input_tokens": 2, "output_tokens": 1}),
        (Run("r", "t", outputs={"llm_output": {"token_usage": {"total_tokens": 9, "x": True}}}),
         {"total_tokens": 9}),
        (Run("r", "t"), {}),
    ],
)  # fmt: skip
def test_usage_under_opentelemetry_names(run: Run, usage: dict[str, int]) -> None:
    assert usage_of(run) == usage


def test_pieces_of_one_run_merge_and_map_to_call_and_result() -> None:
    start = parse_run(
        {"id": "x", "trace_id": "t", "parent_run_id": "t", "run_type": "tool", "name": "f",
         "start_time": "2026-11-23T10:00:00", "inputs": {"input": '{"q": 1}'}},
        "post", 0,
    )  # fmt: skip
    end = parse_run(
        {"id": "x", "trace_id": "t", "parent_run_id": "t", "run_type": "tool", "name": "f",
         "end_time": "2026-11-23T10:00:00.5Z", "outputs": {"output": "ok"},
         "extra": {"metadata": {"tool_call_id": "c1"}}},
        "patch", 1,
    )  # fmt: skip
    (run,) = merge_runs([start, end])
    call, result = run_events(run)
    assert call == {
        "type": "tool.call",
        "id": "x:call",
        "ts": "2026-11-23T10:00:00.000000Z",
        "data": {"name": "f", "call_id": "c1", "args": {"q": 1}},
    }
    assert result["data"] == {"name": "f", "call_id": "c1", "result": "ok", "duration_ms": 500.0}


def test_the_session_is_the_thread_else_the_trace() -> None:
    assert Run("r", "t").session_id == "t"
    assert Run("r", "t", extra={"metadata": {"thread_id": "chat-1"}}).session_id == "chat-1"
    assert Run("r", "t", extra={"metadata": {"conversation_id": 7}}).session_id == "7"
    odd = Run("r", "t", extra={"metadata": {"session_id": "user 1/chat"}}).session_id
    assert odd.startswith("thread-")
    assert len(odd) == 39
    assert trace_end(Run("r", "t", end_us=T0), {})["type"] == "final"
    threaded = Run("r", "t", end_us=T0, extra={"metadata": {"thread_id": "c"}})
    assert trace_end(threaded, {"input_tokens": 1})["type"] == "trace.end"


def test_a_bad_time_names_the_run_and_the_field() -> None:
    with pytest.raises(InvalidEvent, match=r"Run 3 of 'patch': 'end_time' is not usable"):
        parse_run({"id": "x", "end_time": "soon"}, "patch", 3)
