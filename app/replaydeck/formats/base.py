"""What every adapter provides: a stateful decoder (SSE frame → standard events) and a
stateful encoder (stored envelope → SSE frames in the adapter's wire format).

Both are pure: no I/O, no clock. They are stateful only because the formats are: a
Vercel `tool-output-available` part does not repeat the tool's name, an AG-UI
`TOOL_CALL_END` needs the name from `TOOL_CALL_START` and the streamed argument
text, and an encoder must open a text part before its first delta.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from replaydeck.events import MAX_TYPE_LENGTH, RESERVED_PREFIXES
from replaydeck.formats.sse import SSEFrame

_TYPE_PART = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True, slots=True)
class Captured:
    """One event to record: a standard or free-form `type` and its payload."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


class Decoder(Protocol):
    format: str

    def decode(self, frame: SSEFrame) -> list[Captured]: ...


class Encoder(Protocol):
    format: str

    def encode(self, envelope: Mapping[str, Any]) -> list[SSEFrame]: ...


def free_form_type(prefix: str, name: str) -> str:
    """`("ag_ui", "TOOL_CALL_ARGS")` → `ag_ui.tool_call_args`; always a valid store type
    (dotted lower-case parts that start with a letter, at most MAX_TYPE_LENGTH long)."""
    parts = [_TYPE_PART.sub("_", part.lower()).strip("_") for part in name.split(".")]
    parts = [part if part[:1].isalpha() else f"x{part}" for part in parts if part]
    return ".".join([prefix, *(parts or ["unnamed"])])[:MAX_TYPE_LENGTH].rstrip("._")


def loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def dumps(value: Any) -> str:
    # Compact and key-order preserving, like the JSON most SDKs put on the wire.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_args(text: str) -> dict[str, Any]:
    """Tool arguments arrive as streamed JSON text; keep unparsable text rather than fail."""
    value = loads_or_none(text) if text else {}
    if isinstance(value, dict):
        return value
    return {"_raw": text}


def raw_of(envelope: Mapping[str, Any], fmt: str) -> Any:
    """The original wire event, when the envelope was captured from this same format."""
    data = envelope.get("data")
    if isinstance(data, Mapping) and data.get("raw_format") == fmt and "raw" in data:
        return data["raw"]
    return None


def is_control(envelope: Mapping[str, Any]) -> bool:
    """Not part of any protocol's response stream, so no encoder sends it: replaydeck's
    own control events, and the user's message (it came in the request, and a client
    replaying a session would otherwise see its stream start twice)."""
    kind = str(envelope.get("type", ""))
    return kind.startswith(RESERVED_PREFIXES) or kind == "user.message"


def is_synthetic_final(envelope: Mapping[str, Any]) -> bool:
    """The capture adds a `final` when a stream ended without one; no client saw it."""
    data = envelope.get("data")
    return (
        envelope.get("type") == "final"
        and isinstance(data, Mapping)
        and bool(data.get("synthetic"))
    )
