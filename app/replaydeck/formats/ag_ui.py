"""AG-UI events: unnamed SSE frames whose data is `{"type": "TEXT_MESSAGE_CONTENT", …}`
with camelCase fields.

Decoding: `TEXT_MESSAGE_CONTENT` (and `TEXT_MESSAGE_CHUNK` with a delta) → `message.delta`;
`TOOL_CALL_END` → `tool.call`, with the name from `TOOL_CALL_START` and the arguments
assembled from the `TOOL_CALL_ARGS` deltas; `TOOL_CALL_RESULT` → `tool.result`;
`STEP_STARTED` → `status`; `RUN_ERROR` → `error`; `RUN_FINISHED` → `final`. Everything
else becomes `ag_ui.<type>`; every event keeps the original as `raw`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replaydeck.formats.base import (
    Captured,
    dumps,
    free_form_type,
    is_control,
    is_synthetic_final,
    loads_or_none,
    parse_args,
    raw_of,
)
from replaydeck.formats.sse import SSEFrame

FORMAT = "ag-ui"
EVENT_TYPES = frozenset(
    {
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "TEXT_MESSAGE_CHUNK",
        "THINKING_START",
        "THINKING_END",
        "THINKING_TEXT_MESSAGE_START",
        "THINKING_TEXT_MESSAGE_CONTENT",
        "THINKING_TEXT_MESSAGE_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_CHUNK",
        "TOOL_CALL_RESULT",
        "STATE_SNAPSHOT",
        "STATE_DELTA",
        "MESSAGES_SNAPSHOT",
        "RAW",
        "CUSTOM",
        "RUN_STARTED",
        "RUN_FINISHED",
        "RUN_ERROR",
        "STEP_STARTED",
        "STEP_FINISHED",
    }
)


class AGUIDecoder:
    format = FORMAT
    ends_turns = False

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._args: dict[str, str] = {}

    def decode(self, frame: SSEFrame) -> list[Captured]:
        raw = loads_or_none(frame.data)
        if not isinstance(raw, dict):
            return [Captured("ag_ui.unparsed", {"text": frame.data})]
        kind = str(raw.get("type", "UNKNOWN"))
        keep = {"raw": raw, "raw_format": FORMAT}
        call_id = str(raw.get("toolCallId", ""))
        if kind in ("TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CHUNK") and "delta" in raw:
            text = {"text": str(raw["delta"])}
            if raw.get("messageId"):
                text["message_id"] = str(raw["messageId"])
            return [Captured("message.delta", {**text, **keep})]
        if kind == "TOOL_CALL_START":
            self._names[call_id] = str(raw.get("toolCallName", ""))
            self._args[call_id] = ""
        elif kind == "TOOL_CALL_ARGS":
            self._args[call_id] = self._args.get(call_id, "") + str(raw.get("delta", ""))
        elif kind == "TOOL_CALL_END":
            call = {
                "name": self._names.get(call_id, ""),
                "args": parse_args(self._args.pop(call_id, "")),
                "call_id": call_id,
            }
            return [Captured("tool.call", {**call, **keep})]
        elif kind == "TOOL_CALL_RESULT":
            content = raw.get("content")
            parsed = loads_or_none(content) if isinstance(content, str) else None
            result = {
                "name": self._names.get(call_id, ""),
                "call_id": call_id,
                "result": content if parsed is None else parsed,
            }
            return [Captured("tool.result", {**result, **keep})]
        elif kind == "STEP_STARTED":
            return [Captured("status", {"label": str(raw.get("stepName", "")), **keep})]
        elif kind == "RUN_ERROR":
            error: dict[str, Any] = {"message": str(raw.get("message", ""))}
            if raw.get("code") is not None:
                error["code"] = raw["code"]
            return [Captured("error", {**error, **keep})]
        elif kind == "RUN_FINISHED":
            outcome = raw.get("result")
            usage = outcome.get("usage") if isinstance(outcome, dict) else None
            return [
                Captured("final", {"usage": usage, **keep} if isinstance(usage, dict) else keep)
            ]
        return [Captured(free_form_type("ag_ui", kind), keep)]


class AGUIEncoder:
    """Stored envelopes → AG-UI events; captured AG-UI events come back verbatim."""

    format = FORMAT

    def __init__(self, session_id: str = "session") -> None:
        self._thread_id = session_id
        self._run_id = f"run_{session_id}"
        self._started = False
        self._open_message: str | None = None
        self._ended = False  # RUN_ERROR or RUN_FINISHED was sent: the run is over

    def encode(self, envelope: Mapping[str, Any]) -> list[SSEFrame]:
        if is_control(envelope) or is_synthetic_final(envelope) or self._ended:
            # Nothing may follow a run's RUN_ERROR or RUN_FINISHED (HttpAgent's verifier
            # refuses the stream), not even the TEXT_MESSAGE_END of an open message.
            return []
        raw = raw_of(envelope, FORMAT)
        if isinstance(raw, dict):
            return [SSEFrame(data=dumps(raw))]
        kind = str(envelope.get("type"))
        data = envelope.get("data")
        data = data if isinstance(data, Mapping) else {}
        events: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            events.append(
                {"type": "RUN_STARTED", "threadId": self._thread_id, "runId": self._run_id}
            )
        if kind == "message.delta":
            message_id = str(data.get("message_id") or "msg_0")
            if self._open_message != message_id:
                events += self._close_message()
                events.append(
                    {"type": "TEXT_MESSAGE_START", "messageId": message_id, "role": "assistant"}
                )
                self._open_message = message_id
            events.append(
                {
                    "type": "TEXT_MESSAGE_CONTENT",
                    "messageId": message_id,
                    "delta": data.get("text", ""),
                }
            )
        elif kind == "tool.call":
            events += self._close_message()
            call_id = data.get("call_id")
            events += [
                {
                    "type": "TOOL_CALL_START",
                    "toolCallId": call_id,
                    "toolCallName": data.get("name"),
                },
                {
                    "type": "TOOL_CALL_ARGS",
                    "toolCallId": call_id,
                    "delta": dumps(data.get("args", {})),
                },
                {"type": "TOOL_CALL_END", "toolCallId": call_id},
            ]
        elif kind == "tool.result":
            result = data.get("result")
            events.append(
                {
                    "type": "TOOL_CALL_RESULT",
                    "messageId": f"{data.get('call_id')}-result",
                    "toolCallId": data.get("call_id"),
                    "role": "tool",
                    "content": result if isinstance(result, str) else dumps(result),
                }
            )
        elif kind == "status":
            events.append(
                {"type": "CUSTOM", "name": "status", "value": {"label": data.get("label")}}
            )
        elif kind == "error":
            # The protocol's `code` is a string; the store also allows integers.
            error = {"type": "RUN_ERROR", "message": str(data.get("message", ""))}
            if data.get("code") is not None:
                error["code"] = str(data["code"])
            events.append(error)
            self._ended = True
        elif kind == "final":
            events += self._close_message()
            finished: dict[str, Any] = {
                "type": "RUN_FINISHED",
                "threadId": self._thread_id,
                "runId": self._run_id,
            }
            if isinstance(data.get("usage"), Mapping):
                # `result` is the run's outcome as the agent returns it (runAgent's result).
                finished["result"] = {"usage": dict(data["usage"])}
            events.append(finished)
            self._ended = True
        elif "." in kind and "raw_format" not in data:
            # An app's own event (retrieval.hit …); another protocol's plumbing is not sent.
            events.append({"type": "CUSTOM", "name": kind, "value": dict(data)})
        return [SSEFrame(data=dumps(event)) for event in events]

    def _close_message(self) -> list[dict[str, Any]]:
        if self._open_message is None:
            return []
        message_id, self._open_message = self._open_message, None
        return [{"type": "TEXT_MESSAGE_END", "messageId": message_id}]
