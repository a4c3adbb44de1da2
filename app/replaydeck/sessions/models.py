"""Request and response bodies of the sessions API (also the OpenAPI schema)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from fastapi import Path
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from replaydeck import ids
from replaydeck.errors import InvalidParameter
from replaydeck.events import format_ts
from replaydeck.store.base import SessionRecord
from replaydeck.tracing.document import jaeger_trace_url, session_trace_id

# Anchored for the OpenAPI document (a JSON Schema pattern matches anywhere);
# the check itself is ids.is_session_id (fullmatch), one rule for server and client.
SESSION_ID = re.compile(f"^{ids.SESSION_ID.pattern}$")
_SESSION_ID_SCHEMA = {"type": "string", "pattern": SESSION_ID.pattern}
# Session metadata: any JSON, but no text holding NUL (PostgreSQL cannot store it,
# so both backends refuse it alike; sessions/metadata.py).
_NO_NUL = "^[^\\x00]*$"
METADATA_VALUE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": _NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": "#/components/schemas/MetadataValue"}},
        {
            "type": "object",
            "propertyNames": {"pattern": _NO_NUL},
            "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"},
        },
    ]
}
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": _NO_NUL},
    "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"},
}

# Seqs and cursors are 64-bit in both databases; larger numbers are refused, not a 500.
MAX_SEQ = 2**63 - 1
_MAX_SEQ_DIGITS = len(str(MAX_SEQ))
_DIGITS = re.compile(r"[0-9]+")
# A number as a query parameter: digits, an optional fraction and exponent, no sign.
PLAIN_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _whole_number(value: object) -> object:
    # Python's int() (and pydantic's, for a string) also reads "+5", " 5", "5_0"
    # and Arabic-Indic digits, and raises rather than answer for more than 4300
    # digits; a whole number in a query or header is read only as replaydeck writes it.
    if not isinstance(value, str):
        return value
    if not _DIGITS.fullmatch(value):
        raise PydanticCustomError(
            "whole_number",
            "Input should be a whole number written with the digits 0-9 only "
            "(no sign, space or other character), such as 7",
        )
    digits = value.lstrip("0") or "0"
    if len(digits) > _MAX_SEQ_DIGITS:
        raise PydanticCustomError(
            "less_than_equal", "Input should be less than or equal to {le}", {"le": MAX_SEQ}
        )
    return digits


def _seq_header(value: object) -> object:
    # As an entity tag, If-Match may quote the seq: "7".
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return _whole_number(value)


def _plain_number(value: object) -> object:
    if isinstance(value, str) and not PLAIN_NUMBER.fullmatch(value):
        raise PydanticCustomError(
            "plain_number",
            "Input should be a number written with the digits 0-9, such as 250 or 1.5",
        )
    return value


# Query parameters and headers. The bounds sit inside the validator, where
# pydantic writes them into /openapi.json as minimum and maximum.
_From0 = Annotated[int, Field(ge=0, le=MAX_SEQ)]
_From1 = Annotated[int, Field(ge=1, le=MAX_SEQ)]
NonNegativeInt = Annotated[_From0, BeforeValidator(_whole_number)]
PositiveInt = Annotated[_From1, BeforeValidator(_whole_number)]
OptionalPositiveInt = Annotated[_From1 | None, BeforeValidator(_whole_number)]
OptionalNonNegativeNumber = Annotated[
    Annotated[float, Field(ge=0, allow_inf_nan=False)] | None, BeforeValidator(_plain_number)
]
# Last-Event-ID and If-Match: a seq, 7 or "7".
SeqHeader = Annotated[_From0 | None, BeforeValidator(_seq_header)]


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a replay in another protocol resumes: after seq `after`, then past the
    first `skip` frames of the next event's group (formats/replay.py). `given` is the
    header as sent: a plain SSE replay sends an app's own ids, so it looks there first."""

    after: int
    skip: int = 0
    given: str = ""


@dataclass(frozen=True, slots=True)
class OwnId:
    """A replay's Last-Event-ID that is no seq or frame id of replaydeck's: only an app's
    own `id:` in a plain SSE replay can name it; `problem` says why it is no seq."""

    value: str
    problem: str


_FRAME_ID = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def _resume_header(value: object) -> Resume | OwnId | None:
    if value is None:
        return None
    if value == "":
        raise PydanticCustomError("seq", "Input should be a seq such as 7, not empty")
    try:
        return _resume(value)
    except PydanticCustomError as e:
        if not isinstance(value, str):
            raise
        return OwnId(value, e.message())


def _resume(value: object) -> Resume:
    # `7` has all of seq 7's frames; `7.2` has the first two frames of seq 7's group.
    if isinstance(value, str) and "." in value:
        found = _FRAME_ID.fullmatch(value)
        if found is None or int(found[1]) < 1 or int(found[1]) > MAX_SEQ:
            raise PydanticCustomError(
                "frame_id", "Input should be a seq such as 7, or a frame id such as 7.2"
            )
        return Resume(after=int(found[1]) - 1, skip=int(found[2]), given=value)
    after = int(str(_seq_header(value)))
    if after > MAX_SEQ:
        raise PydanticCustomError(
            "less_than_equal", "Input should be less than or equal to {le}", {"le": MAX_SEQ}
        )
    return Resume(after=after, given=str(value))


# A replay's Last-Event-ID: a seq, the id of one frame of a stored event's group, or
# (format=sse) an app's own id. FastAPI reads a header of a class it does not know as
# one value (a tuple would be a list of repeated headers), and the validator makes the
# Resume, or the OwnId that replay/resume.py looks up.
ResumeHeader = Annotated[
    Resume | OwnId | None,
    PlainValidator(_resume_header),
    WithJsonSchema({"type": "string", "minLength": 1}),
]
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

    # Documented for clients; check_session_id gives the friendlier refusal.
    id: Annotated[str, WithJsonSchema(_SESSION_ID_SCHEMA)] | None = Field(
        default=None, description="Leave out to get a generated id."
    )
    metadata: Annotated[dict[str, Any], WithJsonSchema(METADATA_SCHEMA)] = Field(
        default_factory=dict
    )

    @field_validator("metadata")
    @classmethod
    def _wide_ints(cls, value: dict[str, Any]) -> dict[str, Any]:
        # As in events, which orjson parses: integers past 64 bits become floats.
        # What else cannot be stored is refused by sessions/metadata.py, with a sentence.
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:
            try:
                return dict(_wide_ints_as_floats(value))
            except OverflowError:
                return value
        return value


def _wide_ints_as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _wide_ints_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wide_ints_as_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return float(value)
    return value


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
    error_count: int = Field(default=0, description="How many `error` events the session holds.")
    trace_id: str
    jaeger_url: str | None = Field(
        default=None, description="The trace in Jaeger, when REPLAYDECK_JAEGER_URL is set."
    )
    links: SessionLinks

    @classmethod
    def of(
        cls, record: SessionRecord, *, jaeger_url_base: str | None = None, error_count: int = 0
    ) -> SessionOut:
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
            error_count=error_count,
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
