"""Plain SSE, no known protocol: the frame's `event:` is the type, its JSON `data:` the payload.

Decisions (documented in the README's capture section):
- `event:` naming a valid store type (standard, or dotted lower-case and not `replay.`/
  `stream.`) is kept as is; any other name, and a frame without `event:`, becomes
  `sse.<name>` (`sse.message` for none) and the original name is kept as `sse_event`.
- A JSON object is the payload; other JSON becomes `{"value": v}`; non-JSON data
  `{"text": data}`. Both keep the original text as `raw` so the encoder can give it back.
- A frame named after a standard type whose payload lacks that type's fields is
  recorded as `sse.<name>` instead, so one odd frame never gets a batch refused.
- A `final` frame keeps its name as `sse_event` too: under an id the client chose it
  is recorded as `turn.end` (capture/runs.py), and a replay still names it `final`.
- The app's own `id:` is kept as `sse_id` on the frame that set it (the SSE rules keep
  an id in force for the frames after it; those get none), and a `format=sse` replay
  sends it back as that frame's `id:`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from replaydeck.events import (
    CUSTOM_TYPE,
    MAX_TYPE_LENGTH,
    RESERVED_PREFIXES,
    STANDARD_TYPES,
    TURN_END,
)
from replaydeck.formats.base import (
    Captured,
    dumps,
    free_form_type,
    is_control,
    is_synthetic,
    is_synthetic_final,
    raw_of,
)
from replaydeck.formats.sse import SSEFrame

FORMAT = "sse"
_CAPTURE_KEYS = ("raw", "raw_format", "sse_event", "sse_id")


def valid_payload(kind: str, data: Mapping[str, Any]) -> bool:
    model = STANDARD_TYPES.get(kind)
    if model is None:
        return True
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def is_store_type(name: str) -> bool:
    if name.startswith(RESERVED_PREFIXES):
        return False
    if name in STANDARD_TYPES:
        return True
    return len(name) <= MAX_TYPE_LENGTH and CUSTOM_TYPE.fullmatch(name) is not None


class GenericDecoder:
    format = FORMAT
    ends_turns = False

    def __init__(self) -> None:
        self._last_id: str | None = None

    def decode(self, frame: SSEFrame) -> list[Captured]:
        events = self._decode(frame)
        if frame.id is not None and frame.id != self._last_id:
            self._last_id = frame.id
            events[0].data["sse_id"] = frame.id
        return events

    def _decode(self, frame: SSEFrame) -> list[Captured]:
        data: dict[str, Any]
        try:
            value = json.loads(frame.data)
        except ValueError:
            data = {"text": frame.data, "raw": frame.data, "raw_format": FORMAT}
        else:
            if isinstance(value, dict):
                data = value
            else:
                data = {"value": value, "raw": frame.data, "raw_format": FORMAT}
        name = frame.event
        if name is not None and is_store_type(name) and valid_payload(name, data):
            if name == "final":
                # Under an id the client chose the capture records it as `turn.end`
                # (capture/runs.py); the name sends it back as the app sent it.
                data["sse_event"] = name
            return [Captured(name, data)]
        data["sse_event"] = name
        return [Captured(free_form_type("sse", name or "message"), data)]


class GenericEncoder:
    """Gives back the frames as the app sent them: event name and data text."""

    format = FORMAT

    def __init__(self) -> None:
        self._turn_ended = False

    def encode(self, envelope: Mapping[str, Any]) -> list[SSEFrame]:
        if is_control(envelope) or is_synthetic_final(envelope):
            return []
        kind = envelope.get("type")
        data = envelope.get("data")
        data = data if isinstance(data, Mapping) else {}
        after_turn, self._turn_ended = self._turn_ended, kind == TURN_END
        if kind == TURN_END and is_synthetic(envelope):
            return []  # the capture's mark of a call that ended without a `final` frame
        if kind == "final" and after_turn and "sse_event" not in data:
            return []  # the capture's end of a run after its last turn: no app sent it
        event = data.get("sse_event", kind)
        raw = raw_of(envelope, FORMAT)
        if isinstance(raw, str):
            text = raw
        else:
            text = dumps({k: v for k, v in data.items() if k not in _CAPTURE_KEYS})
        own_id = data.get("sse_id")
        return [
            SSEFrame(
                data=text,
                event=event if isinstance(event, str) else None,
                id=own_id if isinstance(own_id, str) else None,
            )
        ]
