"""Golden files: JSONL, one normalized event a line, keys sorted, readable in a pull request.

A file made with other than the default normalization starts with a header line that
records it, so that `replaydeck golden check` and `diff` apply it with no flags:

    {"format":"replaydeck.golden","normalize":{"mask_paths":{"data.id":"<masked>"}},"version":1}

A file without a header (every file written before headers existed, too) was made
with the defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import orjson

Event = dict[str, Any]
FORMAT = "replaydeck.golden"
VERSION = 1
WriteOutcome = Literal["created", "updated", "unchanged"]


def is_header(value: object) -> bool:
    return isinstance(value, dict) and value.get("format") == FORMAT


def header(normalization: Mapping[str, Any]) -> Event | None:
    """The header line for a normalization (Normalizer.describe()); None for the defaults."""
    if not normalization:
        return None
    return {"format": FORMAT, "version": VERSION, "normalize": dict(normalization)}


def dumps(
    events: Iterable[Mapping[str, Any]],
    *,
    newline: bytes = b"\n",
    normalization: Mapping[str, Any] | None = None,
) -> bytes:
    first = header(normalization or {})
    lines = [first, *events] if first is not None else events
    return b"".join(orjson.dumps(line, option=orjson.OPT_SORT_KEYS) + newline for line in lines)


def normalization_of(entries: list[Event]) -> dict[str, Any]:
    """The normalization a file's entries (as `loads` returns them, header included)
    record; {} when they have no header."""
    if entries and is_header(entries[0]):
        return dict(entries[0].get("normalize") or {})
    return {}


def without_header(entries: list[Event]) -> list[Event]:
    return entries[1:] if entries and is_header(entries[0]) else entries


def loads(content: bytes | str, *, source: str = "<golden>") -> list[Event]:
    events: list[Event] = []
    if isinstance(content, bytes):
        try:
            # utf-8-sig: an editor's byte order mark is not part of the first line.
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{source} is not UTF-8 (byte {e.start}); golden files are UTF-8 JSON lines"
            ) from None
    else:
        text = content.removeprefix("\ufeff")
    # Lines end at "\n" (or "\r\n") only: str.splitlines would also cut at
    # U+2028, U+2029 and U+0085, which JSON strings may hold unescaped.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise ValueError(
                f"{source} line {number} is not JSON ({e}); fix or regenerate it"
            ) from e
        if not isinstance(value, dict):
            raise ValueError(f"{source} line {number} is not a JSON object; each line is one event")
        events.append(value)
    return events


def read(path: Path) -> list[Event]:
    """The events of a golden file, without its header."""
    return without_header(read_all(path))


def read_all(path: Path) -> list[Event]:
    """Every line, the header (if any) first."""
    return loads(path.read_bytes(), source=str(path))


def write(
    path: Path,
    events: Iterable[Mapping[str, Any]],
    normalization: Mapping[str, Any] | None = None,
) -> WriteOutcome:
    """Write ``events`` unless the file already holds exactly them.

    An existing file keeps its line endings (a checkout with CRLF line endings is
    not rewritten on every update).
    """
    events = list(events)
    content = dumps(events, normalization=normalization)
    if path.exists():
        existing = path.read_bytes()
        if b"\r\n" in existing:
            content = dumps(events, newline=b"\r\n", normalization=normalization)
        if existing == content or existing.removeprefix(b"\xef\xbb\xbf") == content:
            return "unchanged"
        outcome: WriteOutcome = "updated"
    else:
        outcome = "created"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return outcome
