"""How two normalized event sequences differ, and how to show it (pure).

The sequences are aligned first (difflib's longest-matching-blocks), so an
event inserted, dropped or moved is reported as exactly that, not as every
later event changed. Within an event, `type` is compared before the other keys,
so a swapped or replaced event is headlined by its type.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Final = _Missing()
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LINE_WIDTH = 160
# Characters shown either side of where two long strings first differ.
WINDOW = 40
Kind = Literal["changed", "missing", "extra", "moved"]


@dataclass(frozen=True)
class Divergence:
    index: int  # in the expected sequence (in the actual one for an extra event)
    type: str
    path: str
    expected: Any
    actual: Any
    kind: Kind = "changed"
    actual_index: int | None = None


def divergences(
    expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> list[Divergence]:
    """Every difference between the two sequences, in the expected sequence's order."""
    keys_want = [_key(e) for e in expected]
    keys_got = [_key(e) for e in actual]
    matcher = difflib.SequenceMatcher(None, keys_want, keys_got, autojunk=False)
    found: list[Divergence] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for offset in range(paired):
            i, j = i1 + offset, j1 + offset
            difference = _first_difference(expected[i], actual[j], f"$[{i}]")
            assert difference is not None
            path, want, got = difference
            found.append(Divergence(i, _type_of(expected[i], actual[j]), path, want, got,
                                    "changed", j))  # fmt: skip
        for i in range(i1 + paired, i2):
            found.append(Divergence(i, _type_of(expected[i]), f"$[{i}]", expected[i], MISSING,
                                    "missing"))  # fmt: skip
        for j in range(j1 + paired, j2):
            found.append(Divergence(j, _type_of(actual[j]), f"$[{j}]", MISSING, actual[j],
                                    "extra", j))  # fmt: skip
    return _moves(found)


def first_divergence(
    expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> Divergence | None:
    """The first difference, or None when the sequences are equal."""
    found = divergences(expected, actual)
    return found[0] if found else None


def render(
    found: Sequence[Divergence],
    expected: Sequence[Mapping[str, Any]],
    actual: Sequence[Mapping[str, Any]],
    *,
    context: int = 2,
    verbose: bool = False,
) -> str:
    """A report a reader can act on: what differs, where, and the events around it."""
    first = found[0]
    lines = [_headline(first)]
    if first.kind == "changed":
        want, got = _window(first.expected, first.actual)
        lines += [f"  expected: {want}", f"  actual:   {got}"]
    elif first.kind == "missing":
        lines += [f"  expected: {_compact(first.expected)}", "  actual:   (absent)"]
    elif first.kind == "extra":
        lines += ["  expected: (absent)", f"  actual:   {_compact(first.actual)}"]
    if len(expected) != len(actual):
        lines.append(f"  expected {len(expected)} events, got {len(actual)}")
    if len(found) > 1:
        shown = found[1:] if verbose else []
        lines.append(
            f"{len(found)} differences in all"
            + ("" if verbose else " (run pytest -v, or golden diff -v, to list them all)")
            + (":" if shown else "")
        )
        lines += [f"  {_headline(d)}" for d in shown]
    lines.append("events around the first (- expected, + actual):")
    start = max(0, first.index - context)
    stop = min(max(len(expected), len(actual)), first.index + context + 1)
    for index in range(start, stop):
        want_event = expected[index] if index < len(expected) else MISSING
        got_event = actual[index] if index < len(actual) else MISSING
        if want_event == got_event:
            lines.append(f"   {index:>4}  {_compact(want_event)}")
            continue
        if want_event is not MISSING:
            lines.append(f"  -{index:>4}  {_compact(want_event)}")
        if got_event is not MISSING:
            lines.append(f"  +{index:>4}  {_compact(got_event)}")
    return "\n".join(lines)


def diff(
    expected: Sequence[Mapping[str, Any]],
    actual: Sequence[Mapping[str, Any]],
    *,
    context: int = 2,
    verbose: bool = False,
) -> str | None:
    """The rendered differences, or None when equal."""
    found = divergences(expected, actual)
    if not found:
        return None
    return render(found, expected, actual, context=context, verbose=verbose)


def _headline(d: Divergence) -> str:
    if d.kind == "changed":
        where = "" if d.actual_index in (None, d.index) else f" (event {d.actual_index} now)"
        return f"event {d.index} ({d.type}) differs at {d.path}{where}"
    if d.kind == "missing":
        return f"event {d.index} ({d.type}) is missing"
    if d.kind == "extra":
        return f"event {d.index} ({d.type}) is new: the golden file does not have it"
    return f"event {d.index} ({d.type}) moved to {d.actual_index}"


def _moves(found: list[Divergence]) -> list[Divergence]:
    """A missing event that reappears as an extra one elsewhere, unchanged, moved."""
    extras = {
        _key(d.actual): d for d in found if d.kind == "extra" and isinstance(d.actual, Mapping)
    }
    moved: list[Divergence] = []
    taken: set[int] = set()
    for d in found:
        if d.kind == "missing" and isinstance(d.expected, Mapping):
            extra = extras.pop(_key(d.expected), None)
            if extra is not None:
                taken.add(id(extra))
                moved.append(Divergence(d.index, d.type, d.path, d.expected, extra.actual,
                                        "moved", extra.index))  # fmt: skip
                continue
        if id(d) not in taken:
            moved.append(d)
    return [d for d in moved if id(d) not in taken]


def _key(event: object) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=repr)


def _first_difference(want: Any, got: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        # `type` first, then the golden file's (sorted) order.
        for key in sorted(set(want) | set(got), key=lambda k: (k != "type", str(k))):
            found = _first_difference(
                want.get(key, MISSING), got.get(key, MISSING), _child(path, key)
            )
            if found is not None:
                return found
        return None
    if isinstance(want, list) and isinstance(got, list):
        for i in range(max(len(want), len(got))):
            found = _first_difference(
                want[i] if i < len(want) else MISSING,
                got[i] if i < len(got) else MISSING,
                f"{path}[{i}]",
            )
            if found is not None:
                return found
        return None
    return None if _same_scalar(want, got) else (path, want, got)


def _same_scalar(want: Any, got: Any) -> bool:
    # JSON has no bool/int overlap; Python's True == 1 must not hide a change.
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    return bool(want == got)


def _child(path: str, key: object) -> str:
    text = str(key)
    return f"{path}.{text}" if _IDENTIFIER.fullmatch(text) else f"{path}[{_show(text)}]"


def _type_of(*events: Any) -> str:
    for event in events:
        if isinstance(event, Mapping) and "type" in event:
            return str(event["type"])
    return "?"


def _show(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=repr).decode()


def _window(want: Any, got: Any) -> tuple[str, str]:
    """Both values shown whole, or, for two long strings, around where they first differ."""
    if (
        not (isinstance(want, str) and isinstance(got, str))
        or max(len(want), len(got)) <= 2 * WINDOW
    ):
        return _show(want), _show(got)
    at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
              min(len(want), len(got)))  # fmt: skip
    start = max(0, at - WINDOW)

    def cut(text: str) -> str:
        piece = _show(text[start : at + WINDOW])[1:-1]
        return ('"…' if start else '"') + piece + ('…"' if at + WINDOW < len(text) else '"')

    return cut(want), cut(got) + f"  (first difference at character {at})"


def _compact(value: Any) -> str:
    text = _show(value)
    return text if len(text) <= LINE_WIDTH else text[: LINE_WIDTH - 1] + "…"
