"""Vercel AI SDK UI message stream (`x-vercel-ai-ui-message-stream: v1`): unnamed SSE
frames whose data is a JSON part `{"type": "text-delta", "id": …, "delta": …}`, ended by
`data: [DONE]`.

Decoding: `text-delta` → `message.delta`; `reasoning-delta` → `reasoning.delta`;
`tool-input-available` → `tool.call`; `tool-output-available` / `tool-output-error` /
`tool-output-denied` → `tool.result` (the name is remembered from the tool's input
part, which the output part does not repeat; a denied call is an error result marked
`denied`); `error` → `error`; `finish` → `final` (with `messageMetadata.usage` as its
`usage`, under the standard names: base.standard_usage; the capture records it as
`turn.end` under an id the client chose); `data-status` → `status`. Other parts, the
approval request and the app's own `data-<name>` parts among them, become
`vercel.<type>` (`vercel.data_weather`). The `[DONE]` terminator is not recorded (the
call is over by then); the encoder writes it after every `finish`, so a captured stream
still encodes back verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replaydeck.events import REASONING_DELTA, TURN_END
from replaydeck.formats.base import (
    COUNT_NAMES,
    Captured,
    Tokens,
    dumps,
    free_form_type,
    is_control,
    is_synthetic,
    is_synthetic_final,
    loads_or_none,
    merged,
    raw_of,
    standard_usage,
)
from replaydeck.formats.sse import SSEFrame

FORMAT = "vercel-ai"
HEADER = "x-vercel-ai-ui-message-stream"
# The part types of `UIMessageChunk` in the `ai` package (7.x); `data-<name>` parts are
# the app's own and are recognised by their prefix.
PART_TYPES = frozenset(
    {
        "start",
        "finish",
        "abort",
        "error",
        "start-step",
        "finish-step",
        "reset-step",
        "text-start",
        "text-delta",
        "text-end",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "reasoning-file",
        "custom",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-input-error",
        "tool-approval-request",
        "tool-approval-response",
        "tool-output-available",
        "tool-output-error",
        "tool-output-denied",
        "source-url",
        "source-document",
        "file",
        "message-metadata",
        "steering-message",
    }
)
DONE = "[DONE]"


class VercelAIDecoder:
    format = FORMAT
    ends_turns = False

    def __init__(self) -> None:
        self._tool_names: dict[str, str] = {}

    def decode(self, frame: SSEFrame) -> list[Captured]:
        if frame.data.strip() == DONE:
            return []
        raw = loads_or_none(frame.data)
        if not isinstance(raw, dict):
            return [Captured("vercel.unparsed", {"text": frame.data})]
        kind = str(raw.get("type", "unknown"))
        keep = {"raw": raw, "raw_format": FORMAT}
        call_id = str(raw.get("toolCallId", ""))
        if kind == "text-delta":
            text = {"text": str(raw.get("delta", "")), "message_id": str(raw.get("id", ""))}
            return [Captured("message.delta", {**text, **keep})]
        if kind == "tool-input-available":
            name = str(raw.get("toolName", ""))
            self._tool_names[call_id] = name
            args = raw.get("input")
            args = args if isinstance(args, dict) else {"input": args}
            return [Captured("tool.call", {"name": name, "args": args, "call_id": call_id, **keep})]
        if kind == "reasoning-delta":
            text = {"text": str(raw.get("delta", "")), "message_id": str(raw.get("id", ""))}
            return [Captured(REASONING_DELTA, {**text, **keep})]
        if kind in ("tool-output-available", "tool-output-error", "tool-output-denied"):
            name = self._tool_names.get(call_id, "")
            result: dict[str, Any] = {"name": name, "call_id": call_id}
            if kind == "tool-output-error":
                result.update(result=raw.get("errorText"), is_error=True)
            elif kind == "tool-output-denied":
                # The user refused the tool's approval request: it never ran.
                result.update(result=None, is_error=True, denied=True)
            else:
                result["result"] = raw.get("output")
                if raw.get("preliminary"):
                    result["preliminary"] = True
            return [Captured("tool.result", {**result, **keep})]
        if kind == "error":
            return [Captured("error", {"message": str(raw.get("errorText", "")), **keep})]
        if kind == "finish":
            metadata = raw.get("messageMetadata")
            usage = metadata.get("usage") if isinstance(metadata, dict) else None
            if isinstance(usage, dict):
                return [Captured("final", {"usage": standard_usage(usage), **keep})]
            return [Captured("final", keep)]
        status = raw.get("data")
        if (
            kind == "data-status"
            and isinstance(status, dict)
            and isinstance(status.get("label"), str)
        ):
            return [Captured("status", {"label": status["label"], **keep})]
        return [Captured(free_form_type("vercel", kind), keep)]


class VercelAIEncoder:
    """Stored envelopes → UI message stream parts; captured parts come back verbatim.

    Each turn of a session (ended by `turn.end`) is an assistant message of its own, as
    a chat's requests are: `start` (`msg_<session>`, then `msg_<session>_2` …) …
    `finish` with that turn's usage, then `[DONE]`. `readUIMessageStream` begins a new
    message at a `start` with another id. A turn cut short (a synthetic `turn.end`) gets
    no `finish`, as its client saw none.
    """

    format = FORMAT

    def __init__(self, session_id: str = "session") -> None:
        self._session_id = session_id
        self._turn = 1
        self._message_id = f"msg_{session_id}"
        self._started = False
        self._open: tuple[str, str] | None = None  # the open part: ("text" | "reasoning", id)

    def encode(self, envelope: Mapping[str, Any]) -> list[SSEFrame]:
        if is_control(envelope) or is_synthetic_final(envelope):
            return []
        kind = envelope.get("type")
        raw = raw_of(envelope, FORMAT)
        if isinstance(raw, dict):
            self._started = self._started or raw.get("type") == "start"
            frames = [SSEFrame(data=dumps(raw))]
            if raw.get("type") == "finish":
                frames.append(SSEFrame(data=DONE))
            if kind == TURN_END:
                self._next_turn()
            return frames
        data = envelope.get("data")
        data = data if isinstance(data, Mapping) else {}
        if kind == TURN_END and (is_synthetic(envelope) or data.get("raw_format") == FORMAT):
            self._next_turn()
            return []
        if kind == "final" and self._turn > 1 and not self._started:
            return []  # the run's end after its last turn: every message is finished
        parts: list[dict[str, Any] | str] = []
        if not self._started:
            self._started = True
            parts.append({"type": "start", "messageId": self._message_id})
        if kind in ("message.delta", REASONING_DELTA):
            part = "text" if kind == "message.delta" else "reasoning"
            part_id = str(data.get("message_id") or f"{part}_0")
            if self._open != (part, part_id):
                parts += self._close_text()
                parts.append({"type": f"{part}-start", "id": part_id})
                self._open = (part, part_id)
            parts.append({"type": f"{part}-delta", "id": part_id, "delta": data.get("text", "")})
        elif kind == "tool.call":
            parts += self._close_text()
            parts.append(
                {
                    "type": "tool-input-available",
                    "toolCallId": data.get("call_id"),
                    "toolName": data.get("name"),
                    "input": data.get("args", {}),
                }
            )
        elif kind == "tool.result":
            call_id = data.get("call_id")
            if data.get("denied"):
                parts.append({"type": "tool-output-denied", "toolCallId": call_id})
            elif data.get("is_error"):
                error = data.get("result")
                text = error if isinstance(error, str) else dumps(error)
                parts.append(
                    {"type": "tool-output-error", "toolCallId": call_id, "errorText": text}
                )
            else:
                parts.append(
                    {
                        "type": "tool-output-available",
                        "toolCallId": call_id,
                        "output": data.get("result"),
                    }
                )
        elif kind == "status":
            parts.append(
                {"type": "data-status", "data": {"label": data.get("label")}, "transient": True}
            )
        elif kind == "error":
            parts.append({"type": "error", "errorText": data.get("message", "")})
        elif kind in ("final", TURN_END):
            parts += self._close_text()
            finish: dict[str, Any] = {"type": "finish"}
            usage = ai_sdk_usage(data.get("usage"))
            if usage:
                # The AI SDK's place for a run's usage: the message's metadata.
                finish["messageMetadata"] = {"usage": usage}
            parts += [finish, DONE]
            if kind == TURN_END:
                self._next_turn()
        return [SSEFrame(data=part if isinstance(part, str) else dumps(part)) for part in parts]

    def _next_turn(self) -> None:
        """The next turn is the next assistant message."""
        self._turn += 1
        self._message_id = f"msg_{self._session_id}_{self._turn}"
        self._started = False
        self._open = None

    def _close_text(self) -> list[dict[str, Any] | str]:
        if self._open is None:
            return []
        (part, part_id), self._open = self._open, None
        return [{"type": f"{part}-end", "id": part_id}]


def ai_sdk_usage(usage: Any) -> dict[str, Any]:
    """`final.usage` as the AI SDK names it (LanguageModelUsage), with what has no
    standard name (`noCacheTokens`, `textTokens`, `raw`, an app's own keys) as the app
    sent it, so a replay gives the client the names the live stream did."""
    if not isinstance(usage, Mapping):
        return {}
    standard = standard_usage(usage)
    own = {key: value for key, value in standard.items() if key not in COUNT_NAMES}
    tokens = Tokens.of(standard)
    return own if tokens is None else merged(tokens.ai_sdk(), own)
