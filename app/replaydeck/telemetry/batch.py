"""What every framework mapping hands to the trace ingest: traces and their events.

A framework's exporter posts batches that mix trace headers and finished spans,
in its own ids. Its module here turns one batch into a `TraceBatch`; the ingest
service (replaydeck.ingest.traces) decides which session each trace is recorded
in, and appends. So a second framework's ingest needs only its own mapping.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from replaydeck import ids

# A group's session goes on after one of its traces ends.
TRACE_END = "trace.end"


def session_name(value: str, kind: str) -> str:
    """`value` itself when it is a valid session id, else `{kind}-{hash}`."""
    if ids.is_session_id(value):
        return value
    return hashed_session_name(value, kind)


def hashed_session_name(value: str, kind: str) -> str:
    return f"{kind}-{hashlib.sha256(value.encode()).hexdigest()[:32]}"


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """A trace as it starts: what names its session, and the session's metadata."""

    trace_id: str
    # A conversation or thread id: its traces share one session.
    group_id: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TraceEvents:
    """Producer events (`{"type", "data", "id", "ts"}`) of one trace, ids made from the
    framework's own span ids so that a re-sent span adds nothing."""

    trace_id: str
    events: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TraceEnd:
    """A span whose end may end its trace: `final` is its event. The ingest records it
    as `final` in a session of its own trace, and as `trace.end` in a group's session
    (a conversation goes on after one of its traces)."""

    trace_id: str
    span_id: str
    final: dict[str, Any]
    # An agent span ends its trace only if it did not hand off to another agent.
    unless_handed_off: bool = False

    def event(self, *, grouped: bool) -> dict[str, Any]:
        """`final`, or in a group's session `trace.end` with the trace's id."""
        if not grouped:
            return self.final
        data = {"trace_id": self.trace_id, **self.final.get("data", {})}
        return {**self.final, "type": TRACE_END, "data": data}


@dataclass(slots=True)
class TraceBatch:
    headers: list[TraceHeader] = field(default_factory=list)
    events: list[TraceEvents] = field(default_factory=list)
    ends: list[TraceEnd] = field(default_factory=list)
    # Parent span ids of handoffs, by trace: an agent span that handed off does not
    # end its trace (the next agent's span follows).
    handoff_parents: list[tuple[str, str]] = field(default_factory=list)
    # Items of a kind this mapping does not know (a newer exporter's), skipped.
    ignored: int = 0
