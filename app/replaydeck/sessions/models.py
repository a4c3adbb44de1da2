"""Request and response bodies of the sessions API (also the OpenAPI schema)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from replaydeck import ids
from replaydeck.errors import InvalidParameter
from replaydeck.events import format_ts
from replaydeck.store.base import SessionRecord
from replaydeck.tracing.links import jaeger_trace_url, session_trace_id

# Anchored for the OpenAPI document (JSON Schema patterns search); always applied with
# fullmatch, because `$` also matches before a final newline ("abc\n" is not an id).
# Anchored for the OpenAPI document (a JSON Schema pattern matches anywhere);
# the check itself is ids.is_session_id, one rule for server and client.
SESSION_ID = re.compile(f"^{ids.SESSION_ID.pattern}$")
# Seqs and cursors are 64-bit in both databases; larger numbers are refused, not a 500.
MAX_SEQ = 2**63 - 1


SESSION_ID_RULE = "1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
# Every route with a session in its path: the pattern is documented here, and
# each route refuses anything else with check_session_id's sentence (a 422 the
# same on every backend, before the id reaches a query or a response header).
SessionIdPath = Annotated[
    str, Path(description=SESSION_ID_RULE + ".", json_schema_extra={"pattern": SESSION_ID.pattern})
]


def check_session_id(session_id: str) -> str:
    if not ids.is_session_id(session_id):
        raise InvalidParameter(
            f"{session_id[:40]!r} is not a valid session id: use {SESSION_ID_RULE}."
        )
    return session_id


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None,
        # Documented for clients; check_session_id gives the friendlier refusal.
        json_schema_extra={"pattern": SESSION_ID.pattern},
        description="Leave out to get a generated id.",
    )
    # Checked by sessions/metadata.py, which knows the size limit.
    metadata: dict[str, Any] = Field(default_factory=dict)


class SessionLinks(BaseModel):
    self: str
    events: str
    stream: str
    replay: str


class SessionOut(BaseModel):
    id: str
    status: Literal["open", "complete"]
    created_at: str
    metadata: dict[str, Any]
    last_seq: int
    event_count: int
    first_ts: str | None
    last_ts: str | None
    duration_ms: float
    trace_id: str
    jaeger_url: str | None = Field(
        default=None, description="The trace in Jaeger, when REPLAYDECK_JAEGER_URL is set."
    )
    links: SessionLinks

    @classmethod
    def of(cls, record: SessionRecord, *, jaeger_url_base: str | None = None) -> SessionOut:
        trace_id = session_trace_id(record)
        base = f"/v1/sessions/{record.id}"
        return cls(
            id=record.id,
            status=record.status,
            created_at=format_ts(record.created_at_us),
            metadata=record.metadata,
            last_seq=record.last_seq,
            event_count=record.last_seq,
            first_ts=None if record.first_ts_us is None else format_ts(record.first_ts_us),
            last_ts=None if record.last_ts_us is None else format_ts(record.last_ts_us),
            duration_ms=record.duration_ms,
            trace_id=trace_id,
            jaeger_url=jaeger_trace_url(jaeger_url_base, trace_id),
            links=SessionLinks(
                self=base,
                events=f"{base}/events",
                stream=f"{base}/stream",
                replay=f"{base}/replay",
            ),
        )


class SessionList(BaseModel):
    sessions: list[SessionOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class AppendOut(BaseModel):
    seqs: list[int] = Field(description="One seq per event sent, in order.")
    last_seq: int


class Envelope(BaseModel):
    """A stored event as the API returns and streams it."""

    seq: int
    id: str
    type: str
    ts: str
    offset_ms: float
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[Envelope]
    next_after: int | None = Field(description="Pass as ?after= for the next page.")
