import copy
from pathlib import Path
from typing import Any

import pytest

from replaydeck.testing import golden
from replaydeck.testing.diff import MISSING, diff, divergences, first_divergence
from replaydeck.testing.normalize import normalize


@pytest.fixture
def expected(agent_turn: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return normalize(agent_turn)


def test_equal_sequences_have_no_divergence(expected: list[dict[str, Any]]) -> None:
    assert first_divergence(expected, copy.deepcopy(expected)) is None
    assert diff(expected, copy.deepcopy(expected)) is None


def test_a_changed_tool_argument_names_index_type_and_path(
    expected: list[dict[str, Any]],
) -> None:
    actual = copy.deepcopy(expected)
    actual[1]["data"]["args"]["q"] = "websockets"
    found = first_divergence(expected, actual)
    assert found is not None
    assert (found.index, found.type, found.path) == (1, "tool.call", "$[1].data.args.q")
    assert (found.expected, found.actual) == ("sse", "websockets")
    report = diff(expected, actual)
    assert report is not None
    lines = report.splitlines()
    assert lines[0] == "event 1 (tool.call) differs at $[1].data.args.q"
    assert lines[1:3] == ['  expected: "sse"', '  actual:   "websockets"']
    # the compact view shows two events either side, the changed one as -/+
    assert [line[:7] for line in lines[4:]] == [
        "      0",
        "  -   1",
        "  +   1",
        "      2",
        "      3",
    ]


def test_a_missing_event_is_reported_at_the_end(expected: list[dict[str, Any]]) -> None:
    found = first_divergence(expected, expected[:-1])
    assert found is not None
    assert (found.index, found.type, found.path) == (4, "final", "$[4]")
    assert found.actual is MISSING
    report = diff(expected, expected[:-1])
    assert report is not None
    assert "expected 5 events, got 4" in report
    assert "actual:   (absent)" in report


def test_added_keys_list_items_and_odd_key_names_get_exact_paths() -> None:
    want = [{"type": "x.y", "data": {"a b": [1, 2]}}]
    got = [{"type": "x.y", "data": {"a b": [1, 2, 3], "new": True}}]
    found = first_divergence(want, got)
    assert found is not None
    assert found.path == '$[0].data["a b"][2]'
    assert (found.expected, found.actual) == (MISSING, 3)


def test_true_is_not_one() -> None:
    found = first_divergence([{"type": "t.t", "v": 1}], [{"type": "t.t", "v": True}])
    assert found is not None
    assert found.path == "$[0].v"


def test_golden_files_are_sorted_jsonl_and_round_trip(
    tmp_path: Path, expected: list[dict[str, Any]]
) -> None:
    path = tmp_path / "g" / "turn.jsonl"
    assert golden.write(path, expected) == "created"
    assert golden.write(path, expected) == "unchanged"
    lines = path.read_text().splitlines()
    assert len(lines) == len(expected)
    assert lines[0] == '{"data":{"label":"thinking"},"type":"status"}'
    assert golden.read(path) == expected
    assert golden.write(path, expected[:2]) == "updated"
    assert golden.read(path) == expected[:2]


def test_a_broken_golden_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type":"a.b"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl line 2 is not JSON"):
        golden.read(path)


def test_a_key_with_a_final_newline_is_quoted_in_the_path(
    expected: list[dict[str, Any]],
) -> None:
    actual = copy.deepcopy(expected)
    expected[1]["data"]["args"]["q\n"] = "a"
    actual[1]["data"]["args"]["q\n"] = "b"
    found = first_divergence(expected, actual)
    assert found is not None
    assert found.path == '$[1].data.args["q\\n"]'


def test_an_inserted_event_is_reported_as_new_and_nothing_else(
    expected: list[dict[str, Any]],
) -> None:
    actual = copy.deepcopy(expected)
    actual.insert(2, {"type": "status", "data": {"label": "thinking"}})
    found = divergences(expected, actual)
    assert [(d.kind, d.index, d.type) for d in found] == [("extra", 2, "status")]
    report = diff(expected, actual)
    assert report is not None
    assert report.splitlines()[0] == "event 2 (status) is new: the golden file does not have it"


def test_a_swap_is_a_move_and_a_replaced_event_is_headlined_by_its_type() -> None:
    a = {"type": "tool.call", "data": {"call_id": "c1"}}
    b = {"type": "tool.call", "data": {"call_id": "c2"}}
    c = {"type": "status", "data": {"label": "x"}}
    moved = divergences([a, b, c], [b, a, c])
    # One of the two swapped events moved (which one is the aligner's choice).
    assert [d.kind for d in moved] == ["moved"]
    assert {moved[0].index, moved[0].actual_index} == {0, 1}
    replaced = first_divergence([c], [{"type": "error", "data": {"label": "x"}}])
    assert replaced is not None
    assert (replaced.path, replaced.expected, replaced.actual) == ("$[0].type", "status", "error")


def test_every_difference_is_counted_and_listed_when_verbose(
    expected: list[dict[str, Any]],
) -> None:
    actual = copy.deepcopy(expected)
    actual[1]["data"]["args"]["q"] = "websockets"
    del actual[3]
    quiet = diff(expected, actual)
    loud = diff(expected, actual, verbose=True)
    assert quiet is not None
    assert loud is not None
    assert "2 differences in all (run pytest -v" in quiet
    assert any(
        line.startswith("  event 3 (") and "is missing" in line for line in loud.splitlines()
    )


def test_long_strings_show_where_they_differ() -> None:
    want = [{"type": "message", "data": {"text": "x" * 500 + "needle" + "y" * 500}}]
    got = [{"type": "message", "data": {"text": "x" * 500 + "pin" + "y" * 500}}]
    report = diff(want, got)
    assert report is not None
    assert '"…' + "x" * 40 + "needle" + "y" * 34 + '…"' in report
    assert "first difference at character 500" in report


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_golden_lines_may_hold_unicode_line_separators(tmp_path: Path, separator: str) -> None:
    path = tmp_path / "g.jsonl"
    events = [{"type": "message", "data": {"text": f"one{separator}two"}}]
    golden.write(path, events)
    assert golden.read(path) == events


def test_a_bom_and_crlf_lines_are_read_and_crlf_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    events = [{"type": "status", "data": {"label": "a"}}, {"type": "final", "data": {}}]
    path.write_bytes(b"\xef\xbb\xbf" + golden.dumps(events, newline=b"\r\n"))
    assert golden.read(path) == events
    assert golden.write(path, events) == "unchanged"
    golden.write(path, [*events[:1], {"type": "final", "data": {"reason": "eof"}}])
    assert path.read_bytes().count(b"\r\n") == 2


def test_a_golden_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_bytes(b'{"type": "\xff"}\n')
    with pytest.raises(ValueError, match="is not UTF-8"):
        golden.read(path)
