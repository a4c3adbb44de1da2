"""Golden files: JSONL, one normalized event a line, keys sorted, readable in a pull request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import orjson

Event = dict[str, Any]
WriteOutcome = Literal["created", "updated", "unchanged"]


def dumps(events: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + b"\n" for event in events)


def loads(content: bytes | str, *, source: str = "<golden>") -> list[Event]:
    events: list[Event] = []
    text = content.decode() if isinstance(content, bytes) else content
    for number, line in enumerate(text.splitlines(), start=1):
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
    """Write ``events`` unless the file already holds exactly them."""
    content = dumps(events)
    if path.exists():
        if path.read_bytes() == content:
            return "unchanged"
        outcome: WriteOutcome = "updated"
    else:
        outcome = "created"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return outcome
