"""Golden files: JSONL, one normalized event a line, keys sorted, readable in a pull request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import orjson

Event = dict[str, Any]
WriteOutcome = Literal["created", "updated", "unchanged"]


def dumps(events: Iterable[Mapping[str, Any]], *, newline: bytes = b"\n") -> bytes:
    return b"".join(orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + newline for event in events)


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
    return loads(path.read_bytes(), source=str(path))


def write(path: Path, events: Iterable[Mapping[str, Any]]) -> WriteOutcome:
    """Write ``events`` unless the file already holds exactly them.

    An existing file keeps its line endings (a checkout with CRLF line endings is
    not rewritten on every update).
    """
    events = list(events)
    content = dumps(events)
    if path.exists():
        existing = path.read_bytes()
        if b"\r\n" in existing:
            content = dumps(events, newline=b"\r\n")
        if existing == content or existing.removeprefix(b"\xef\xbb\xbf") == content:
            return "unchanged"
        outcome: WriteOutcome = "updated"
    else:
        outcome = "created"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return outcome
