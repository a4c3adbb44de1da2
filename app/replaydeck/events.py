"""The envelope everyone shares: producer input, validation, and the stored form.

Producers send `{"type", "data", "id"?, "ts"?}`. Validation turns that into a
`NewEvent` whose payload is already serialized, so the store writes bytes and the
streams send them without encoding the payload again.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
)

from replaydeck.errors import InvalidEvent, PayloadTooLarge
from replaydeck.storable import flaw

# Applied with fullmatch: `$` alone would let "retrieval.hit\n" through.
CUSTOM_TYPE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
RESERVED_PREFIXES = ("replay.", "stream.")
MAX_ID_LENGTH = 128
MAX_TYPE_LENGTH = 64
# The store's default REPLAYDECK_MAX_EVENT_BYTES, and the recorder SDK's check at emit.
DEFAULT_MAX_EVENT_BYTES = 256 * 1024
ENVELOPE_FIELDS = frozenset({"type", "data", "id", "ts"})
# The accepted `ts` range: 1970-01-01 to 9999-12-31 as epoch milliseconds, and
# years 1 to 9999 in UTC (after the offset is applied) as RFC 3339 strings.
MAX_EPOCH_MS = 253_402_300_799_999
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MIN_TS_US = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // _MICROSECOND
MAX_TS_US = (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) - EPOCH) // _MICROSECOND


class _Payload(BaseModel):
    # Extra fields are the producer's business; we only check what we rely on.
    model_config = ConfigDict(extra="allow", strict=True)


class MessageDelta(_Payload):
    text: StrictStr
    message_id: StrictStr | None = None


class Status(_Payload):
    label: StrictStr


class ToolCall(_Payload):
    name: StrictStr
    args: dict[str, Any]
    call_id: StrictStr


class ToolResult(_Payload):
    name: StrictStr
    call_id: StrictStr
    result: Any
    is_error: StrictBool | None = None


def _json_integer(value: Any) -> Any:
    # JSON has one number type: 404.0 is the integer 404 (as JSON Schema reads it).
    # Only where a float holds integers exactly: orjson turns integers past 64 bits
    # into floats, which must not round back into range.
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


class Error(_Payload):
    message: StrictStr
    # JSON integers past 64 bits arrive as floats (orjson), and are refused.
    code: (
        StrictStr
        | Annotated[int, Field(ge=-(2**63), le=2**64 - 1), BeforeValidator(_json_integer)]
        | None
    ) = None


class Final(_Payload):
    usage: dict[str, Any] | None = None


class UserMessage(_Payload):
    # `text` is what a person reads; `content` keeps the protocol's structured parts
    # (images, files …) as the app received them.
    text: StrictStr
    content: list[Any] | None = None
    message_id: StrictStr | None = None


# A documented custom type (not in the standard table): one model response of a
# session that spans several model calls has ended, with that response's `usage`.
# The capture writes it where Responses and Chat Completions streams end; the
# session's `final` comes when the run ends (README, "One session, many model calls").
TURN_END = "turn.end"
# Another documented custom type: a piece of the model's reasoning text (OpenAI
# reasoning text and summaries, AI SDK `reasoning-delta`, AG-UI `REASONING_MESSAGE_*`),
# `text` and `message_id` as in `message.delta`. It is not the answer, so it is kept
# apart from `message.delta`.
REASONING_DELTA = "reasoning.delta"

STANDARD_TYPES: dict[str, type[_Payload]] = {
    "message.delta": MessageDelta,
    "status": Status,
    "tool.call": ToolCall,
    "tool.result": ToolResult,
    "error": Error,
    "final": Final,
    "user.message": UserMessage,
}


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A validated event on its way to the store."""

    type: str
    data: dict[str, Any]
    data_json: bytes
    id: str | None = None
    ts_us: int | None = None
    # How many values redaction replaced; summed into the session's metadata
    # (store/sequencing.py, REDACTED_KEY).
    redacted: int = 0


def _where(index: int | None) -> str:
    return "The event" if index is None else f"Event {index}"


def parse_ts(value: Any, index: int | None = None) -> int:
    """A producer timestamp (RFC 3339 string or epoch milliseconds) as epoch µs."""
    where = _where(index)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidEvent(
            f"{where} has a 'ts' of type {type(value).__name__}; send an RFC 3339 string "
            'such as "2026-11-23T10:00:01.250Z" or epoch milliseconds as a number.'
        )
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidEvent(
                f"{where} has 'ts' {value[:64]!r}, which is not an RFC 3339 timestamp; "
                'send e.g. "2026-11-23T10:00:01.250Z" or epoch milliseconds.'
            ) from None
        if parsed.tzinfo is None:
            raise InvalidEvent(
                f"{where} has 'ts' {value[:64]!r} without a time zone; add 'Z' or an "
                "offset such as '+00:00'."
            )
        # Integer arithmetic: a float timestamp loses microseconds far from 1970.
        ts_us = (parsed - EPOCH) // _MICROSECOND
        if not MIN_TS_US <= ts_us <= MAX_TS_US:
            raise InvalidEvent(
                f"{where} has 'ts' {value[:64]!r}, which lies outside years 1 to 9999 in "
                "UTC once its offset is applied; send a time within that range."
            )
        return ts_us
    if not math.isfinite(value) or value < 0 or value > MAX_EPOCH_MS:
        raise InvalidEvent(
            f"{where} has 'ts' {value!r}, which is not a plausible epoch time in "
            "milliseconds; send milliseconds since 1970 or an RFC 3339 string."
        )
    return round(value * 1000)


@functools.lru_cache(maxsize=1)
def format_ts(ts_us: int) -> str:
    # On every append, for every event: strftime of a datetime was an eighth of
    # a 100-event append's time. Events of one second share the prefix, so it
    # is formatted once per second (a one-entry cache) and the microseconds added;
    # the events of a batch sent without `ts` share all of it (the outer cache).
    seconds, micros = divmod(ts_us, 1_000_000)
    return f"{_second_prefix(seconds)}.{micros:06d}Z"


@functools.lru_cache(maxsize=1)
def _second_prefix(seconds: int) -> str:
    # Not strftime: its %Y does not zero-pad years before 1000 on glibc, and the
    # result must parse back (RFC 3339 wants four digits).
    moment = EPOCH + timedelta(seconds=seconds)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def _check_type(event_type: Any, where: str) -> str:
    if not isinstance(event_type, str) or not event_type:
        raise InvalidEvent(
            f"{where} has no 'type'; give one of {', '.join(STANDARD_TYPES)} "
            "or a dotted lower-case name such as 'retrieval.hit'."
        )
    if event_type.startswith(RESERVED_PREFIXES):
        raise InvalidEvent(
            f"{where} has type {event_type[:MAX_TYPE_LENGTH]!r}, but the prefixes 'replay.' "
            "and 'stream.' are reserved for replaydeck's own control events; rename it."
        )
    if event_type not in STANDARD_TYPES and (
        len(event_type) > MAX_TYPE_LENGTH or not CUSTOM_TYPE.fullmatch(event_type)
    ):
        raise InvalidEvent(
            f"{where} has type {event_type[:MAX_TYPE_LENGTH]!r}, which is neither a standard "
            f"type ({', '.join(STANDARD_TYPES)}) nor a dotted lower-case name of at most "
            f"{MAX_TYPE_LENGTH} characters such as 'retrieval.hit'."
        )
    return event_type


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"]) or "data"
    return f"data.{path}: {first['msg'][0].lower()}{first['msg'][1:]}"


def validate_event(raw: Any, *, index: int | None = None, max_bytes: int) -> NewEvent:
    """Check one producer event; raise InvalidEvent/PayloadTooLarge with a sentence."""
    where = _where(index)
    if not isinstance(raw, dict):
        raise InvalidEvent(
            f"{where} is a JSON {type(raw).__name__}, not an object; send "
            '{"type": "status", "data": {"label": "thinking"}}.'
        )
    unknown = raw.keys() - ENVELOPE_FIELDS
    if unknown:
        raise InvalidEvent(
            f"{where} has unknown field(s) {', '.join(sorted(map(str, unknown)))}; an event "
            "has only 'type', 'data', 'id' and 'ts' (put everything else inside 'data')."
        )
    event_type = _check_type(raw.get("type"), where)
    data = raw.get("data", {})
    if not isinstance(data, dict):
        raise InvalidEvent(
            f"{where} ({event_type}) has 'data' of type {type(data).__name__}; 'data' "
            "must be a JSON object."
        )
    model = STANDARD_TYPES.get(event_type)
    if model is not None:
        try:
            model.model_validate(data)
        except ValidationError as e:
            raise InvalidEvent(
                f"{where} ({event_type}) is not valid: {_describe(e)}.",
                event_type=event_type,
            ) from None
    event_id = raw.get("id")
    if event_id is not None and (
        not isinstance(event_id, str)
        or not event_id
        or len(event_id) > MAX_ID_LENGTH
        # PostgreSQL cannot store NUL in text, and SQLite compares such ids unreliably.
        or "\x00" in event_id
    ):
        raise InvalidEvent(
            f"{where} has an 'id' that is not a string of 1 to {MAX_ID_LENGTH} characters "
            "without NUL; use a short unique string, or leave 'id' out and replaydeck "
            "makes one."
        )
    if event_id is not None and (reason := flaw(event_id)) is not None:
        raise InvalidEvent(
            f"{where} has an 'id' that {reason}; use printable text, or leave 'id' out "
            "and replaydeck makes one."
        )
    ts = raw.get("ts")
    ts_us = None if ts is None else parse_ts(ts, index)
    try:
        data_json = orjson.dumps(data)
    except orjson.JSONEncodeError as e:  # e.g. integers beyond 64 bits
        raise InvalidEvent(f"{where} ({event_type}) has data that cannot be stored: {e}.") from None
    if len(data_json) > max_bytes:
        raise PayloadTooLarge(
            f"{where} ({event_type}) has {len(data_json)} bytes of data; the limit is "
            f"{max_bytes} bytes (REPLAYDECK_MAX_EVENT_BYTES). Split it or store a reference."
        )
    return NewEvent(type=event_type, data=data, data_json=data_json, id=event_id, ts_us=ts_us)


def producer_event_schema() -> dict[str, Any]:
    """The JSON Schema of what validate_event accepts, for /openapi.json."""
    envelope = {
        "id": {
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_ID_LENGTH,
                    "pattern": "^[^\\x00]*$",
                },
                {"type": "null"},
            ],
            "description": "Idempotency key within the session; null or absent: one is made.",
        },
        "ts": {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "minimum": 0, "maximum": MAX_EPOCH_MS},
                {"type": "null"},
            ],
            "description": "RFC 3339 with a zone (years 1 to 9999 in UTC) or epoch "
            "milliseconds; null or absent: the time the store receives it.",
        },
    }
    branches: list[dict[str, Any]] = []
    for name, model in STANDARD_TYPES.items():
        payload = model.model_json_schema()
        payload.pop("title", None)
        branches.append(
            {
                "type": "object",
                "additionalProperties": False,
                # Without data, the payload is {}: enough only where nothing is required.
                "required": ["type", "data"] if payload.get("required") else ["type"],
                "properties": {"type": {"const": name}, "data": payload, **envelope},
            }
        )
    reserved = "^(?:" + "|".join(re.escape(prefix) for prefix in RESERVED_PREFIXES) + ")"
    custom_type = {
        "type": "string",
        "pattern": CUSTOM_TYPE.pattern,
        "maxLength": MAX_TYPE_LENGTH,
        "not": {"anyOf": [{"enum": list(STANDARD_TYPES)}, {"pattern": reserved}]},
        "example": "retrieval.hit",
    }
    branches.append(
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {"type": custom_type, "data": {"type": "object"}, **envelope},
        }
    )
    return {"oneOf": branches}


def build_envelope(
    *,
    seq: int,
    event_id: str,
    event: NewEvent,
    ts_us: int,
    first_ts_us: int,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """The stored, streamed form of an event, serialized once; `extra` adds fields
    (tracing's trace_id and span_id)."""
    envelope: dict[str, Any] = {
        "seq": seq,
        "id": event_id,
        "type": event.type,
        "ts": format_ts(ts_us),
        "offset_ms": (ts_us - first_ts_us) / 1000,
        "data": orjson.Fragment(event.data_json),
    }
    if extra:
        envelope.update(extra)
    return orjson.dumps(envelope)
