"""Session export archives: NDJSON that moves a whole session between machines.

Line 1 is a header, every further line one stored envelope in seq order::

    {"format": "replaydeck.session", "version": 1, "session": {...}, "count": 3}
    {"seq": 1, "id": "e1", "type": "status", "ts": "2026-11-23T10:00:00Z", "offset_ms": 0.0, ...}
    ...

`session` is the session record as the API returns it (id, metadata, status …).
Envelopes keep their `ts` and `id`, so an import replays with the original
timing and a second import of the same archive is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from replaydeck.testing import golden

FORMAT = "replaydeck.session"
VERSION = 1

Event = dict[str, Any]


@dataclass(frozen=True)
class Header:
    session: dict[str, Any]
    count: int | None


def header_line(session: Mapping[str, Any], count: int | None) -> bytes:
    header = {"format": FORMAT, "version": VERSION, "session": dict(session), "count": count}
    return orjson.dumps(header) + b"\n"


def event_line(event: Mapping[str, Any]) -> bytes:
    return orjson.dumps(event) + b"\n"


def write(out: IO[bytes], session: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> int:
    """Write a whole archive; returns the number of events written."""
    materialized = list(events)
    out.write(header_line(session, len(materialized)))
    for event in materialized:
        out.write(event_line(event))
    return len(materialized)


def is_header(value: object) -> bool:
    return isinstance(value, dict) and value.get("format") == FORMAT


def parse_header(value: Mapping[str, Any], source: str) -> Header:
    version = value.get("version")
    if version != VERSION:
        raise ValueError(
            f"{source} is a version {version} archive; this replaydeck reads version {VERSION}"
        )
    session = value.get("session")
    count = value.get("count")
    return Header(
        session=dict(session) if isinstance(session, dict) else {},
        count=count if isinstance(count, int) else None,
    )


def iter_lines(path: Path) -> Iterator[tuple[int, Event]]:
    """Each JSON object line of ``path`` with its 1-based line number."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise ValueError(f"{path} line {number} is not JSON ({e})") from e
            if not isinstance(value, dict):
                raise ValueError(f"{path} line {number} is not a JSON object")
            yield number, value


def read(path: Path) -> tuple[Header | None, list[Event]]:
    """An archive's header and events; a headerless NDJSON file of events has no header."""
    header: Header | None = None
    events: list[Event] = []
    for index, (_, value) in enumerate(iter_lines(path)):
        if index == 0 and is_header(value):
            header = parse_header(value, str(path))
        elif index == 0 and golden.is_header(value):
            continue  # a golden file's normalization, not an event
        else:
            events.append(value)
    return header, events
