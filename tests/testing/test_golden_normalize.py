import itertools
import re
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replaydeck.testing.normalize import Normalizer, normalize


def test_drops_volatile_fields_and_coalesces_one_message(agent_turn: list[dict[str, Any]]) -> None:
    assert normalize(agent_turn) == [
        {"type": "status", "data": {"label": "thinking"}},
        {
            "type": "tool.call",
            "data": {"name": "web.search", "args": {"q": "sse"}, "call_id": "c1"},
        },
        {
            "type": "tool.result",
            "data": {"name": "web.search", "call_id": "c1", "result": {"hits": ["a", "b"]}},
        },
        {"type": "message", "data": {"text": "Server-Sent Events are one-way."}},
        {"type": "final", "data": {"usage": {"input_tokens": 12, "output_tokens": 5}}},
    ]


def test_strict_mode_keeps_the_chunks(agent_turn: list[dict[str, Any]]) -> None:
    chunks = [e for e in Normalizer.build(strict=True)(agent_turn) if e["type"] == "message.delta"]
    assert [c["data"]["text"] for c in chunks] == ["Server-Sent ", "Events are ", "one-way."]


def test_messages_split_on_a_new_message_id_or_an_event_between() -> None:
    events = [
        {"type": "message.delta", "data": {"text": "a", "message_id": "m1"}},
        {"type": "message.delta", "data": {"text": "b", "message_id": "m2"}},
        {"type": "status", "data": {"label": "x"}},
        {"type": "message.delta", "data": {"text": "c", "message_id": "m2"}},
    ]
    assert [e["data"].get("text") for e in normalize(events)] == ["a", "b", None, "c"]


def test_control_events_are_dropped_unless_kept() -> None:
    events = [
        {"type": "status", "data": {"label": "x"}},
        {"type": "replay.end", "data": {"reason": "complete", "count": 1}},
    ]
    assert [e["type"] for e in normalize(events)] == ["status"]
    kept = Normalizer.build(keep_control=True)(events)
    assert [e["type"] for e in kept] == ["status", "replay.end"]


def test_default_patterns_mask_uuids_and_dates_inside_strings() -> None:
    event = {
        "type": "tool.result",
        "data": {
            "result": "order 0b9f5c1e-4f1a-4c4e-9a51-3c2d1e0f9a8b placed 2026-11-23T10:00:01.250Z",
            "due": "2026-12-01",
            "count": 3,
        },
    }
    assert normalize([event])[0]["data"] == {
        "result": "order <uuid> placed <datetime>",
        "due": "<date>",
        "count": 3,
    }
    assert normalize([event], Normalizer.build(default_masks=False))[0] == event


def test_masks_json_paths_with_wildcards_and_custom_patterns() -> None:
    event = {
        "type": "tool.result",
        "data": {"result": {"items": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]}, "took": 31},
    }
    options = Normalizer.build(
        mask_paths={"data.result.items[*].id": "<id>", "data.took": "<ms>"},
        patterns=[(re.compile(r"^b$"), "<b>")],
    )
    assert options([event])[0]["data"] == {
        "result": {"items": [{"id": "<id>", "v": "a"}, {"id": "<id>", "v": "<b>"}]},
        "took": "<ms>",
    }


def test_a_date_split_across_chunks_is_masked_whole() -> None:
    events = [
        {"type": "message.delta", "data": {"text": "due 2026-1"}},
        {"type": "message.delta", "data": {"text": "2-01."}},
    ]
    assert normalize(events)[0]["data"]["text"] == "due <date>."


def test_input_is_not_mutated(agent_turn: list[dict[str, Any]]) -> None:
    before = repr(agent_turn)
    normalize(agent_turn, Normalizer.build(mask_paths=["data.args.q"]))
    assert repr(agent_turn) == before


# A stream: events, some of which are answers given as text with a message id.
_items = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.sampled_from(["m1", "m2", None]), st.text(max_size=30)),
        st.tuples(st.just("status"), st.none(), st.text(max_size=5)),
    ),
    max_size=8,
)


def _stream(items: list[tuple[str, Any, str]], cuts: list[list[int]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for (kind, message_id, text), positions in zip(items, cuts, strict=True):
        if kind == "status":
            out.append({"type": "status", "data": {"label": text}})
            continue
        bounds = [0, *sorted(p % (len(text) + 1) for p in positions), len(text)]
        for start, stop in itertools.pairwise(bounds):
            data = {"text": text[start:stop]}
            if message_id is not None:
                data["message_id"] = message_id
            out.append({"type": "message.delta", "seq": len(out) + 1, "data": data})
    return out


@given(_items, st.data())
def test_rechunking_the_deltas_never_changes_the_normal_form(
    items: list[tuple[str, Any, str]], data: st.DataObject
) -> None:
    cut = st.lists(st.integers(0, 40), max_size=4)
    cuts = st.lists(cut, min_size=len(items), max_size=len(items))
    one_way = _stream(items, data.draw(cuts))
    other_way = _stream(items, data.draw(cuts))
    assert normalize(one_way) == normalize(other_way)


def test_patterns_of_your_own_add_to_the_default_masks() -> None:
    event = {"type": "status", "data": {"label": "job-7 at 2026-11-23T10:00:00Z"}}
    masked = normalize([event], Normalizer.build(patterns=[(r"job-\d+", "<job>")]))
    assert masked[0]["data"]["label"] == "<job> at <datetime>"
    only_mine = Normalizer.build(patterns=[(r"job-\d+", "<job>")], default_masks=False)
    assert normalize([event], only_mine)[0]["data"]["label"] == "<job> at 2026-11-23T10:00:00Z"


def test_a_mask_path_that_matches_nothing_is_an_error() -> None:
    events = [{"type": "tool.result", "data": {"result": {"id": "x"}}}]
    assert normalize(events, Normalizer.build(mask_paths=["data.result.id"]))[0]["data"] == {
        "result": {"id": "<masked>"}
    }
    with pytest.raises(ValueError, match=r"mask path 'data.reslt.id' matches nothing"):
        normalize(events, Normalizer.build(mask_paths=["data.reslt.id"]))


def test_per_call_ids_get_numbered_placeholders_that_keep_pairs_linked() -> None:
    call_id = "call_" + "a1B2c3D4e5F6g7H8"
    other = "call_" + "Z9y8X7w6V5u4T3s2"
    events = [
        {"type": "status", "data": {"label": "chatcmpl-AbCdEfGh12345678"}},
        {"type": "tool.call", "data": {"name": "f", "call_id": call_id, "args": {}}},
        {"type": "tool.call", "data": {"name": "f", "call_id": other, "args": {}}},
        {"type": "tool.result", "data": {"name": "f", "call_id": call_id, "result": 1}},
        {"type": "status", "data": {"label": uuid.uuid4().hex, "created": 1764583200}},
        {"type": "status", "data": {"created_ms": 1764583200123, "tokens": 1234, "ok": True}},
    ]
    out = normalize(events)
    assert out[0]["data"]["label"] == "<chatcmpl_1>"
    assert [e["data"]["call_id"] for e in out[1:4]] == ["<call_1>", "<call_2>", "<call_1>"]
    assert out[4]["data"] == {"label": "<hex_1>", "created": "<epoch>"}
    assert out[5]["data"] == {"created_ms": "<epoch>", "tokens": 1234, "ok": True}


def test_transforms_run_last() -> None:
    def drop_status(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events if e["type"] != "status"]

    events = [{"type": "status", "data": {}}, {"type": "final", "data": {}}]
    assert normalize(events, Normalizer.build(transforms=[drop_status])) == [
        {"type": "final", "data": {}}
    ]
