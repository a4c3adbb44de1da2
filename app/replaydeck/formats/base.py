"""What every adapter provides: a stateful decoder (SSE frame → standard events) and a
stateful encoder (stored envelope → SSE frames in the adapter's wire format).

Both are pure: no I/O, no clock. They are stateful only because the formats are: a
Vercel `tool-output-available` part does not repeat the tool's name, an AG-UI
`TOOL_CALL_END` needs the name from `TOOL_CALL_START` and the streamed argument
text, and an encoder must open a text part before its first delta.
"""

from __future__ import annotations

import copy
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
        elif _is_count(value):
            summed[key] = (had if isinstance(had, int) else 0) + value
        elif key not in summed:
            summed[key] = value
    return summed


# The camelCase token counts of the AI SDK (`LanguageModelUsage`: ai 7's nested details,
# and the flat `reasoningTokens`/`cachedInputTokens` of ai 5 and 6) and of AG-UI
# (`TokenUsage`), by path, → the standard names `final.usage` has everywhere (OpenAI
# Responses'). AG-UI's and the AI SDK's names agree where both have one.
CAMEL_USAGE_NAMES = {
    "inputTokens": "input_tokens",
    "cachedInputTokens": "input_tokens_details.cached_tokens",
    "inputTokenDetails.cacheReadTokens": "input_tokens_details.cached_tokens",
    "cacheWriteInputTokens": "input_tokens_details.cache_write_tokens",
    "inputTokenDetails.cacheWriteTokens": "input_tokens_details.cache_write_tokens",
    "outputTokens": "output_tokens",
    "reasoningTokens": "output_tokens_details.reasoning_tokens",
    "outputTokenDetails.reasoningTokens": "output_tokens_details.reasoning_tokens",
    "totalTokens": "total_tokens",
}
# The names Tokens reads (Responses' and Chat's): what a usage holds beyond them is an
# app's or a provider's own.
COUNT_NAMES = frozenset(
    {
        "input_tokens",
        "input_tokens_details",
        "output_tokens",
        "output_tokens_details",
        "total_tokens",
        "prompt_tokens",
        "prompt_tokens_details",
        "completion_tokens",
        "completion_tokens_details",
    }
)


def standard_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """A usage under the standard names: the AI SDK's and AG-UI's counts renamed
    (CAMEL_USAGE_NAMES), a count that is null left out, and every other key kept as it
    was (the AI SDK's `noCacheTokens`, `textTokens` and `raw` have no standard name)."""
    kept = copy.deepcopy(dict(usage))
    moved: dict[str, Any] = {}
    for given, standard in CAMEL_USAGE_NAMES.items():
        *parent, name = given.split(".")
        holder = kept.get(parent[0]) if parent else kept
        if not isinstance(holder, dict) or name not in holder:
            continue
        value = holder[name]
        if value is not None and not _is_count(value):
            continue  # not a count: someone else's field of that name, kept
        del holder[name]
        if parent and not holder:
            del kept[parent[0]]
        if value is not None:
            *place, field_name = standard.split(".")
            target = moved.setdefault(place[0], {}) if place else moved
            target.setdefault(field_name, value)
    return merged(moved, kept)


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra`'s keys added, objects one level deep merged key by key."""
    result = dict(base)
    for key, value in extra.items():
        had = result.get(key)
        if isinstance(had, Mapping) and isinstance(value, Mapping):
            result[key] = {**had, **value}
        else:
            result[key] = value
    return result


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        """Responses names (`input_tokens` …), Chat names (`prompt_tokens` …), or the
        AI SDK's and AG-UI's (sessions stored before their usage was renamed); None when
        the usage holds no counts, so an encoder leaves usage out, not zeroed."""
        if not isinstance(usage, Mapping):
            return None
        usage = standard_usage(usage)
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

    def ai_sdk(self) -> dict[str, Any]:
        """The AI SDK's LanguageModelUsage (ai 7), as `finish.messageMetadata.usage`."""
        return {
            "inputTokens": self.input,
            "inputTokenDetails": {
                "cacheReadTokens": self.cached,
                "cacheWriteTokens": self.cache_write,
            },
            "outputTokens": self.output,
            "outputTokenDetails": {"reasoningTokens": self.reasoning},
            "totalTokens": self.total,
        }

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
        if _is_count(value) and value >= 0:
            return int(value)
    return None
