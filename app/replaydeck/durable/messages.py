"""How a stream's data becomes session events and back, exactly.

JSON mode: each message is one event. A message shaped like a replaydeck event
(`{"type": "status", "data": {"label": …}}`, a standard type other than `final`)
is stored as that typed event, so traces and the viewer understand it; any other
message is a `ds.message` event holding it as `{"value": …}`. Byte mode: each
append is one `ds.bytes` event, `{"text": …}` for a text/* stream whose bytes are
UTF-8, else `{"base64": …}`.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Sequence
from typing import Any

import orjson

from replaydeck.errors import InvalidEvent, PayloadTooLarge, StreamBadRequest
from replaydeck.events import DEFAULT_MAX_EVENT_BYTES, STANDARD_TYPES, NewEvent, validate_event
from replaydeck.store.base import StoredEvent

MESSAGE = "ds.message"
BYTES = "ds.bytes"
# `final` would end the session; only closing the stream may end it.
_TYPED = frozenset(STANDARD_TYPES) - {"final"}
# A larger message is kept whole as a `ds.message`: the stream takes any size.
MAX_TYPED_BYTES = DEFAULT_MAX_EVENT_BYTES


def parse_json_body(body: bytes, *, allow_empty_array: bool) -> list[Any]:
    """The messages of a JSON-mode body: an array is flattened one level."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise StreamBadRequest(
            "The body is not valid JSON (or nests deeper than 1024 levels); a stream of "
            "type application/json takes one JSON value, or an array of them as a batch."
        ) from None
    if isinstance(value, list):
        if not value and not allow_empty_array:
            raise StreamBadRequest("An empty JSON array appends nothing; send at least one value.")
        return value
    return [value]


def json_event(message: Any) -> NewEvent:
    typed = isinstance(message, dict) and set(message) == {"type", "data"}
    if typed and message["type"] in _TYPED:
        with contextlib.suppress(InvalidEvent, PayloadTooLarge):
            return validate_event(message, max_bytes=MAX_TYPED_BYTES)
    data = {"value": message}
    return NewEvent(type=MESSAGE, data=data, data_json=orjson.dumps(data))


def bytes_event(body: bytes, *, text: bool) -> NewEvent:
    data: dict[str, Any]
    try:
        data = {"text": body.decode()} if text else {"base64": base64.b64encode(body).decode()}
    except UnicodeDecodeError:
        data = {"base64": base64.b64encode(body).decode()}
    return NewEvent(type=BYTES, data=data, data_json=orjson.dumps(data))


def events_for(
    body: bytes, *, json_mode: bool, text: bool, initial: bool = False
) -> list[NewEvent]:
    if not body:
        return []
    if json_mode:
        return [json_event(m) for m in parse_json_body(body, allow_empty_array=initial)]
    return [bytes_event(body, text=text)]


def event_payload(kind: str, data: dict[str, Any]) -> bytes:
    """A stored event's bytes in its stream: a JSON message, or the appended bytes."""
    if kind == BYTES:
        text = data.get("text")
        return text.encode() if isinstance(text, str) else base64.b64decode(data["base64"])
    if kind == MESSAGE:
        return orjson.dumps(data["value"])
    return orjson.dumps({"type": kind, "data": data})


def payloads(events: Sequence[StoredEvent]) -> list[bytes]:
    return [event_payload(e.type, orjson.loads(e.envelope)["data"]) for e in events]


def new_event_of(event: StoredEvent) -> NewEvent:
    """A stored event again, to copy into a fork."""
    data = orjson.loads(event.envelope)["data"]
    return NewEvent(type=event.type, data=data, data_json=orjson.dumps(data), ts_us=event.ts_us)


def truncated(event: StoredEvent, size: int) -> NewEvent:
    """The first `size` bytes of a byte-mode event (a fork's sub-offset)."""
    data = orjson.loads(event.envelope)["data"]
    head = event_payload(event.type, data)[:size]
    return _with_ts(bytes_event(head, text="text" in data), event.ts_us)


def _with_ts(event: NewEvent, ts_us: int) -> NewEvent:
    return NewEvent(event.type, event.data, event.data_json, ts_us=ts_us)


def json_array(items: Sequence[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"
