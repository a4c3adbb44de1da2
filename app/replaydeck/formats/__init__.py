"""Protocol adapters: detect a stream's format, decode it to standard events, and
encode stored sessions back into it (the replay endpoint's `?format=`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replaydeck.formats.ag_ui import EVENT_TYPES as AG_UI_TYPES
from replaydeck.formats.ag_ui import AGUIDecoder, AGUIEncoder
from replaydeck.formats.base import Captured, Decoder, Encoder, loads_or_none
from replaydeck.formats.generic import GenericDecoder, GenericEncoder
from replaydeck.formats.openai_chat import (
    OpenAIChatDecoder,
    OpenAIChatEncoder,
    decode_completion,
    is_chunk,
)
from replaydeck.formats.openai_responses import (
    OpenAIResponsesDecoder,
    OpenAIResponsesEncoder,
    decode_response,
)
from replaydeck.formats.sse import SSEFrame
from replaydeck.formats.vercel_ai import HEADER as VERCEL_HEADER
from replaydeck.formats.vercel_ai import PART_TYPES as VERCEL_TYPES
from replaydeck.formats.vercel_ai import VercelAIDecoder, VercelAIEncoder

__all__ = [
    "DECODE_FORMATS",
    "ENCODE_FORMATS",
    "Captured",
    "Decoder",
    "Encoder",
    "UnknownFormat",
    "decode_answer",
    "detect",
    "make_decoder",
    "make_encoder",
    "normalize_format",
]

# `auto` detects; `sse` is plain SSE (the frame's event name is the type).
DECODE_FORMATS = ("auto", "sse", "openai-responses", "openai-chat", "vercel-ai", "ag-ui")
ENCODE_FORMATS = ("sse", "openai-responses", "openai-chat", "vercel-ai", "ag-ui")


class UnknownFormat(ValueError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown stream format {name!r}; use one of: {', '.join(known)}")


def normalize_format(name: str, known: tuple[str, ...] = ENCODE_FORMATS) -> str:
    """Accept `openai_responses`, `OpenAI-Responses` …; raise UnknownFormat otherwise."""
    canonical = name.strip().lower().replace("_", "-")
    aliases = {
        "openai": "openai-responses",
        "openai-chat-completions": "openai-chat",
        "vercel": "vercel-ai",
        "agui": "ag-ui",
    }
    canonical = aliases.get(canonical, canonical)
    if canonical not in known:
        raise UnknownFormat(name, known)
    return canonical


def detect(frame: SSEFrame, headers: Mapping[str, str] | None = None) -> str:
    """Guess the format from the response headers and the stream's first frame."""
    if headers is not None and VERCEL_HEADER in {key.lower() for key in headers}:
        return "vercel-ai"
    value = loads_or_none(frame.data)
    if frame.event is None and is_chunk(value):
        return "openai-chat"
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(kind, str):
        return "sse"
    if kind.startswith("response.") and (frame.event is None or frame.event == kind):
        return "openai-responses"
    if kind in AG_UI_TYPES and frame.event is None:
        return "ag-ui"
    if (kind in VERCEL_TYPES or kind.startswith("data-")) and frame.event is None:
        return "vercel-ai"
    return "sse"


def make_decoder(fmt: str) -> Decoder:
    decoders: dict[str, type[Decoder]] = {
        "sse": GenericDecoder,
        "openai-responses": OpenAIResponsesDecoder,
        "openai-chat": OpenAIChatDecoder,
        "vercel-ai": VercelAIDecoder,
        "ag-ui": AGUIDecoder,
    }
    return decoders[normalize_format(fmt, ENCODE_FORMATS)]()


def make_encoder(fmt: str, session_id: str = "session") -> Encoder:
    """A fresh, stateful encoder for one replay of one session."""
    canonical = normalize_format(fmt)
    if canonical == "sse":
        return GenericEncoder()
    encoders: dict[
        str, type[OpenAIResponsesEncoder | OpenAIChatEncoder | VercelAIEncoder | AGUIEncoder]
    ] = {
        "openai-responses": OpenAIResponsesEncoder,
        "openai-chat": OpenAIChatEncoder,
        "vercel-ai": VercelAIEncoder,
        "ag-ui": AGUIEncoder,
    }
    return encoders[canonical](session_id)


def decode_answer(value: Any) -> list[Captured] | None:
    """A non-streamed JSON answer of a model-call protocol as events, or None when the
    value is no such answer (a Responses `response` or a Chat `chat.completion`)."""
    if not isinstance(value, dict):
        return None
    if value.get("object") == "response" and isinstance(value.get("output"), list):
        return decode_response(value)
    if value.get("object") == "chat.completion" and isinstance(value.get("choices"), list):
        return decode_completion(value)
    return None
