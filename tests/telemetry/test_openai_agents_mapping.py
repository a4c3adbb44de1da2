"""The pure mapping: any JSON an exporter (or anyone) posts is either mapped to events
the store validates, or refused with a ReplaydeckError (a 4xx), never anything else."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from replaydeck.errors import ReplaydeckError
from replaydeck.events import validate_event
from replaydeck.telemetry.openai_agents import event_id, output_texts, read_export

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
TYPES = st.sampled_from(
    ["function", "generation", "response", "agent", "handoff", "guardrail", "custom",
     "speech", "transcription", "mcp_tools", "new"]
)  # fmt: skip
TIMES = st.none() | st.sampled_from(["2026-12-03T10:00:00+00:00", "2026-12-03T10:00:01.5Z"]) | JSON
SPAN_DATA = st.fixed_dictionaries(
    {"type": TYPES},
    optional=dict.fromkeys(
        ("name", "input", "output", "usage", "data", "from_agent", "to_agent", "triggered"), JSON
    ),
)
SPAN = st.fixed_dictionaries(
    {"object": st.just("trace.span"), "id": st.text(min_size=1, max_size=8),
     "trace_id": st.just("trace_1"), "span_data": SPAN_DATA | JSON},
    optional={"parent_id": st.none() | st.text(max_size=4) | JSON, "started_at": TIMES,
              "ended_at": TIMES, "error": JSON, "metadata": JSON},
)  # fmt: skip
TRACE = st.fixed_dictionaries(
    {"object": st.just("trace"), "id": st.text(min_size=1, max_size=8) | JSON},
    optional={"group_id": JSON, "workflow_name": JSON, "metadata": JSON},
)


@settings(max_examples=300, deadline=None)
@given(st.lists(SPAN | TRACE | JSON, max_size=5))
def test_any_export_maps_to_valid_events_or_a_client_error(items: list[Any]) -> None:
    try:
        batch = read_export({"data": items})
    except ReplaydeckError:
        return
    events = [event for group in batch.events for event in group.events]
    events += [end.event(grouped=grouped) for end in batch.ends for grouped in (False, True)]
    for event in events:
        # Refused or not, by the store's own rules: any other exception would be a 500.
        with contextlib.suppress(ReplaydeckError):
            validate_event(event, max_bytes=256 * 1024)


def test_output_texts_reads_every_shape_the_sdks_record() -> None:
    chat_message = {"role": "assistant", "content": "a"}
    completion = {"object": "chat.completion", "choices": [{"message": {"content": "b"}}]}
    response = {"output": [{"type": "message", "content": [{"type": "output_text", "text": "c"}]}]}
    call = {"type": "function_call", "name": "f", "arguments": "{}"}
    assert output_texts([chat_message, completion, response, call, "d"]) == ["a", "b", "c", "d"]
    assert output_texts([{"role": "user", "content": "not the model's"}]) == []


def test_event_ids_stay_within_the_id_limit() -> None:
    assert event_id("span_1", "call") == "span_1.call"
    long = event_id("s" * 200, "result")
    assert len(long) <= 128
    assert long.endswith(".result")
    assert long == event_id("s" * 200, "result")
