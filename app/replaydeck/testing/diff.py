"""The first divergence between two normalized event sequences, and how to show it (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Final = _Missing()
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LINE_WIDTH = 160


@dataclass(frozen=True)
class Divergence:
    index: int
    type: str
    path: str
    expected: Any
    actual: Any


def first_divergence(
    expected: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> Divergence | None:
    """Where the two sequences first differ, or None when they are equal."""
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else MISSING
        got = actual[index] if index < len(actual) else MISSING
        found = _first_difference(want, got, f"$[{index}]")
        if found is not None:
            path, want_value, got_value = found
            return Divergence(index, _type_of(want, got), path, want_value, got_value)
    return None


def render(
    divergence: Divergence,
    expected: Sequence[Mapping[str, Any]],
    actual: Sequence[Mapping[str, Any]],
    *,
    context: int = 2,
) -> str:
    """A report a reader can act on: where, what differs, and the events around it."""
    d = divergence
    lines = [
        f"event {d.index} ({d.type}) differs at {d.path}",
        f"  expected: {_show(d.expected)}",
        f"  actual:   {_show(d.actual)}",
    ]
    if len(expected) != len(actual):
        lines.append(f"  expected {len(expected)} events, got {len(actual)}")
    lines.append("events around it (- expected, + actual):")
    start = max(0, d.index - context)
    stop = min(max(len(expected), len(actual)), d.index + context + 1)
    for index in range(start, stop):
        want = expected[index] if index < len(expected) else MISSING
        got = actual[index] if index < len(actual) else MISSING
        if want == got:
            lines.append(f"   {index:>4}  {_compact(want)}")
            continue
        if want is not MISSING:
            lines.append(f"  -{index:>4}  {_compact(want)}")
        if got is not MISSING:
            lines.append(f"  +{index:>4}  {_compact(got)}")
    return "\n".join(lines)


def diff(
    expected: Sequence[Mapping[str, Any]],
    actual: Sequence[Mapping[str, Any]],
    *,
    context: int = 2,
) -> str | None:
    """The rendered first divergence, or None when equal."""
    divergence = first_divergence(expected, actual)
    return None if divergence is None else render(divergence, expected, actual, context=context)


def _first_difference(want: Any, got: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        # Sorted, like the golden file's lines, so "first" matches what a reader sees.
        for key in sorted(set(want) | set(got)):
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


def _type_of(want: Any, got: Any) -> str:
    for event in (want, got):
        if isinstance(event, Mapping) and "type" in event:
            return str(event["type"])
    return "?"


def _show(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=repr).decode()


def _compact(value: Any) -> str:
    text = _show(value)
    return text if len(text) <= LINE_WIDTH else text[: LINE_WIDTH - 1] + "…"
