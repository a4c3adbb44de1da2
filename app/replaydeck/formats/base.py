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

# The events of capture/wire.py, named here too: formats lie below capture.
WIRE_TYPES = frozenset({"http.request", "http.response", "http.chunk"})
_TYPE_PART = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True, slots=True)
class Captured:
    """One event to record: a standard or free-form `type` and its payload."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


class Decoder(Protocol):
    format: str
    # True for model-call protocols (OpenAI Responses, Chat Completions), whose stream
    # ends one model call (`turn.end`); False where a stream is a whole session unless
    # the client chose its id (then the capture makes its `final` a turn's end: runs.py).
    ends_turns: bool

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
    own control events, the user's message (it came in the request, and a client
    replaying a session would otherwise see its stream start twice), and the wire of
    a capture with `record_wire` (capture/wire.py: the same stream, unparsed)."""
    kind = str(envelope.get("type", ""))
    return kind.startswith(RESERVED_PREFIXES) or kind == "user.message" or kind in WIRE_TYPES


def is_synthetic_final(envelope: Mapping[str, Any]) -> bool:
    """The capture adds a `final` when a stream (or a run of model calls) ended without
    one; no client saw it."""
    return envelope.get("type") == "final" and is_synthetic(envelope)


def is_synthetic(envelope: Mapping[str, Any]) -> bool:
    """Written by the capture (a `final`, or a `turn.end` of a call cut short), not by
    the app: no client saw it."""
    data = envelope.get("data")
    return isinstance(data, Mapping) and bool(data.get("synthetic"))


def add_usage(total: Mapping[str, Any] | None, usage: Mapping[str, Any]) -> dict[str, Any]:
    """Token counts summed key by key (nested details too), whatever the protocol calls
    them: a run's usage is the sum of its model calls'."""
    summed: dict[str, Any] = dict(total or {})
    for key, value in usage.items():
        had = summed.get(key)
        if isinstance(value, Mapping):
            summed[key] = add_usage(had if isinstance(had, Mapping) else None, value)
        elif isinstance(value, int) and not isinstance(value, bool):
            summed[key] = (had if isinstance(had, int) else 0) + value
        elif key not in summed:
            summed[key] = value
    return summed


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts of a stored `final.usage`, whatever protocol named them."""

    input: int
    output: int
    total: int
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0

    @classmethod
    def of(cls, usage: Any) -> Tokens | None:
        """Responses names (`input_tokens` …) or Chat names (`prompt_tokens` …); None
        when the usage holds no counts, so an encoder leaves usage out, not zeroed."""
        if not isinstance(usage, Mapping):
            return None
        given = _count(usage, "input_tokens", "prompt_tokens")
        taken = _count(usage, "output_tokens", "completion_tokens")
        if given is None and taken is None:
            return None
        given, taken = given or 0, taken or 0
        total = _count(usage, "total_tokens")
        cached = _count(
            usage, "input_tokens_details.cached_tokens", "prompt_tokens_details.cached_tokens"
        )
        cache_write = _count(
            usage,
            "input_tokens_details.cache_write_tokens",
            "prompt_tokens_details.cache_write_tokens",
        )
        reasoning = _count(
            usage,
            "output_tokens_details.reasoning_tokens",
            "completion_tokens_details.reasoning_tokens",
        )
        return cls(
            input=given,
            output=taken,
            total=given + taken if total is None else total,
            cached=cached or 0,
            cache_write=cache_write or 0,
            reasoning=reasoning or 0,
        )

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input,
            "input_tokens_details": {
                "cached_tokens": self.cached,
                "cache_write_tokens": self.cache_write,
            },
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.total,
        }

    def ag_ui(self) -> dict[str, Any]:
        """One TokenUsage of AG-UI's RUN_FINISHED `usage` list."""
        usage = {
            "inputTokens": self.input,
            "outputTokens": self.output,
            "totalTokens": self.total,
        }
        optional = {
            "cachedInputTokens": self.cached,
            "cacheWriteInputTokens": self.cache_write,
            "reasoningTokens": self.reasoning,
        }
        return usage | {name: count for name, count in optional.items() if count}

    def chat(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.input,
            "completion_tokens": self.output,
            "total_tokens": self.total,
            "prompt_tokens_details": {
                "cached_tokens": self.cached,
                "cache_write_tokens": self.cache_write,
            },
            "completion_tokens_details": {"reasoning_tokens": self.reasoning},
        }


def _count(usage: Mapping[str, Any], *paths: str) -> int | None:
    for path in paths:
        value: Any = usage
        for key in path.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
