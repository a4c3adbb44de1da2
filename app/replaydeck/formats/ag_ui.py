"""AG-UI events: unnamed SSE frames whose data is `{"type": "TEXT_MESSAGE_CONTENT", …}`
with camelCase fields.

Decoding: `TEXT_MESSAGE_CONTENT` (and `TEXT_MESSAGE_CHUNK` with a delta) → `message.delta`;
`REASONING_MESSAGE_CONTENT` (and `REASONING_MESSAGE_CHUNK`) → `reasoning.delta`;
`TOOL_CALL_END` → `tool.call`, with the name from `TOOL_CALL_START` and the arguments
assembled from the `TOOL_CALL_ARGS` deltas; a run of `TOOL_CALL_CHUNK`s → `tool.call` once
another call or any other event follows; `TOOL_CALL_RESULT` → `tool.result`;
`STEP_STARTED` → `status`; `RUN_ERROR` → `error`; `RUN_FINISHED` → `final`, with its
`usage` summed and an `interrupt` or `cancelled` outcome kept (the capture records it
as `turn.end` under an id the client chose: one run of a thread). Everything else
(`ACTIVITY_*`, `STATE_*`, `SUBAGENT_*` …) becomes `ag_ui.<type>`; every event keeps the
original as `raw`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replaydeck.events import REASONING_DELTA, TURN_END
from replaydeck.formats.base import (
    Captured,
    Tokens,
    add_usage,
    dumps,
    free_form_type,
    is_control,
    is_synthetic,
    is_synthetic_final,
    loads_or_none,
    parse_args,
    raw_of,
    standard_usage,
)
from replaydeck.formats.sse import SSEFrame

FORMAT = "ag-ui"
# AG-UI 1.0's event types (`EventType` in @ag-ui/core and PyPI ag-ui-protocol); the
# pre-1.0 THINKING_* events were replaced by REASONING_*.
EVENT_TYPES = frozenset(
    {
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "TEXT_MESSAGE_CHUNK",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_CHUNK",
        "TOOL_CALL_RESULT",
        "STATE_SNAPSHOT",
        "STATE_DELTA",
        "MESSAGES_SNAPSHOT",
        "ACTIVITY_SNAPSHOT",
        "ACTIVITY_DELTA",
        "RAW",
        "CUSTOM",
        "RUN_STARTED",
        "RUN_FINISHED",
        "RUN_ERROR",
        "STEP_STARTED",
        "STEP_FINISHED",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_MESSAGE_CHUNK",
        "REASONING_END",
        "REASONING_ENCRYPTED_VALUE",
        "SUBAGENT_STARTED",
        "SUBAGENT_FINISHED",
        "SUBAGENT_ERROR",
    }
)


class AGUIDecoder:
    format = FORMAT
    ends_turns = False

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._args: dict[str, str] = {}
        self._chunked: str | None = None  # the tool call TOOL_CALL_CHUNKs are building

    def decode(self, frame: SSEFrame) -> list[Captured]:
        raw = loads_or_none(frame.data)
        if not isinstance(raw, dict):
            return [Captured("ag_ui.unparsed", {"text": frame.data})]
        kind = str(raw.get("type", "UNKNOWN"))
        if kind == "TOOL_CALL_CHUNK":
            return self._chunk(raw)
        # Chunks build one call until another call or any other event (the rule of the
        # client's own chunk transform), so that event first ends the call.
        return self._end_chunked() + self._decode(kind, raw)

    def _chunk(self, raw: dict[str, Any]) -> list[Captured]:
        keep = {"raw": raw, "raw_format": FORMAT}
        given = raw.get("toolCallId")
        ended = self._end_chunked() if given and given != self._chunked else []
        if given and given != self._chunked:
            self._chunked = str(given)
            self._names[self._chunked] = str(raw.get("toolCallName") or "")
            self._args[self._chunked] = ""
        if self._chunked is not None and raw.get("delta"):
            self._args[self._chunked] += str(raw["delta"])
        return [*ended, Captured("ag_ui.tool_call_chunk", keep)]

    def _end_chunked(self) -> list[Captured]:
        if self._chunked is None:
            return []
        call_id, self._chunked = self._chunked, None
        call = {
            "name": self._names.get(call_id, ""),
            "args": parse_args(self._args.pop(call_id, "")),
            "call_id": call_id,
        }
        # Assembled from chunks that are stored (and replayed) themselves.
        return [Captured("tool.call", {**call, "raw_format": FORMAT})]

    def _decode(self, kind: str, raw: dict[str, Any]) -> list[Captured]:
        keep = {"raw": raw, "raw_format": FORMAT}
        call_id = str(raw.get("toolCallId", ""))
        if kind in ("TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CHUNK") and "delta" in raw:
            text = {"text": str(raw["delta"])}
            if raw.get("messageId"):
                text["message_id"] = str(raw["messageId"])
            return [Captured("message.delta", {**text, **keep})]
        if kind in ("REASONING_MESSAGE_CONTENT", "REASONING_MESSAGE_CHUNK") and raw.get("delta"):
            text = {"text": str(raw["delta"])}
            if raw.get("messageId"):
                text["message_id"] = str(raw["messageId"])
            return [Captured(REASONING_DELTA, {**text, **keep})]
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
            end: dict[str, Any] = {}
            usage = run_usage(raw.get("usage"))
            if usage:
                end["usage"] = usage
            outcome = raw.get("outcome")
            if isinstance(outcome, dict) and outcome.get("type"):
                # `interrupt` (waiting on the user: `interrupts` says for what) or
                # `cancelled`: the run is over either way; a resume is a new run.
                end["outcome"] = str(outcome["type"])
                if outcome.get("interrupts"):
                    end["interrupts"] = outcome["interrupts"]
            return [Captured("final", {**end, **keep})]
        return [Captured(free_form_type("ag_ui", kind), keep)]


def run_usage(given: Any) -> dict[str, Any]:
    """RUN_FINISHED's `usage` (a TokenUsage per model or provider) as one summed usage
    under the standard names."""
    total: dict[str, Any] = {}
    for entry in given if isinstance(given, list) else []:
        if isinstance(entry, dict):
            # `model` and `provider` label one entry; the sum is the whole run's.
            counts = {k: v for k, v in entry.items() if k not in ("model", "provider")}
            total = add_usage(total, standard_usage(counts))
    return total


class AGUIEncoder:
    """Stored envelopes → AG-UI events; captured AG-UI events come back verbatim.

    Each turn of a session (ended by `turn.end`) is a run of its own on the session's
    thread: `RUN_STARTED` (`run_<session>`, then `run_<session>_2` …) … `RUN_FINISHED`
    with that turn's usage. A turn cut short (a synthetic `turn.end`) left its run open,
    as its client saw it: the next turn's run first ends it with a `RUN_ERROR`, so the
    stream stays one a verifier accepts; a last turn cut short is left as it was.
    """

    format = FORMAT

    def __init__(self, session_id: str = "session") -> None:
        self._session_id = session_id
        self._thread_id = session_id
        self._turn = 1
        self._run_id = f"run_{session_id}"
        self._started = False
        self._open_message: str | None = None
        self._open_reasoning: str | None = None
        self._ended = False  # RUN_ERROR or RUN_FINISHED was sent: the run is over
        self._cut: str | None = None  # the previous turn's run, left open: why

    def encode(self, envelope: Mapping[str, Any]) -> list[SSEFrame]:
        if is_control(envelope) or is_synthetic_final(envelope):
            return []
        if envelope.get("type") == TURN_END:
            return [SSEFrame(data=dumps(event)) for event in self._end_turn(envelope)]
        raw = raw_of(envelope, FORMAT)
        if isinstance(raw, dict):
            ended = self._open_run() if raw.get("type") == "RUN_STARTED" else []
            self._ended = self._ended or raw.get("type") in ("RUN_FINISHED", "RUN_ERROR")
            return [SSEFrame(data=dumps(event)) for event in [*ended, raw]]
        if self._ended:
            # Nothing may follow a run's RUN_ERROR or RUN_FINISHED (HttpAgent's verifier
            # refuses the stream), not even the TEXT_MESSAGE_END of an open message.
            return []
        kind = str(envelope.get("type"))
        data = envelope.get("data")
        data = data if isinstance(data, Mapping) else {}
        if data.get("raw_format") == FORMAT:
            return []  # assembled from captured events (a chunked tool call), sent as they were
        if kind == "final" and self._turn > 1 and not self._started:
            return []  # the run's end after its last turn: every run is finished
        events: list[dict[str, Any]] = []
        if not self._started:
            events += self._start_run()
        if kind not in (REASONING_DELTA, "error"):
            events += self._close_reasoning()
        if kind == REASONING_DELTA:
            events += self._close_message()
            message_id = str(data.get("message_id") or "reasoning_0")
            if self._open_reasoning != message_id:
                events += self._close_reasoning()
                events += [
                    {"type": "REASONING_START", "messageId": message_id},
                    {
                        "type": "REASONING_MESSAGE_START",
                        "messageId": message_id,
                        "role": "reasoning",
                    },
                ]
                self._open_reasoning = message_id
            events.append(
                {
                    "type": "REASONING_MESSAGE_CONTENT",
                    "messageId": message_id,
                    "delta": data.get("text", ""),
                }
            )
        elif kind == "message.delta":
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
            events += self._finish(data)
        elif "." in kind and "raw_format" not in data:
            # An app's own event (retrieval.hit …); another protocol's plumbing is not sent.
            events.append({"type": "CUSTOM", "name": kind, "value": dict(data)})
        return [SSEFrame(data=dumps(event)) for event in events]

    def _finish(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        finished: dict[str, Any] = {
            "type": "RUN_FINISHED",
            "threadId": self._thread_id,
            "runId": self._run_id,
        }
        tokens = Tokens.of(data.get("usage"))
        if tokens is not None:
            finished["usage"] = [tokens.ag_ui()]
        self._ended = True
        return [*self._close_reasoning(), *self._close_message(), finished]

    def _open_run(self) -> list[dict[str, Any]]:
        """A run starts: the one a cut-short turn left open ends first."""
        self._started = True
        if self._cut is None:
            return []
        reason, self._cut = self._cut, None
        return [{"type": "RUN_ERROR", "message": f"the call was cut short ({reason})"}]

    def _start_run(self) -> list[dict[str, Any]]:
        run = {"type": "RUN_STARTED", "threadId": self._thread_id, "runId": self._run_id}
        return [*self._open_run(), run]

    def _end_turn(self, envelope: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One run per turn: this turn's run finishes (as captured, or synthesised)."""
        data = envelope.get("data")
        data = data if isinstance(data, Mapping) else {}
        raw = raw_of(envelope, FORMAT)
        events: list[dict[str, Any]] = []
        if is_synthetic(envelope):
            if self._started and not self._ended:
                self._cut = str(data.get("reason") or "interrupted")
        elif self._ended:
            pass  # the run already ended (RUN_ERROR, or its RUN_FINISHED came as `final`)
        elif isinstance(raw, dict):
            events.append(raw)
        elif data.get("raw_format") != FORMAT:
            events += [] if self._started else self._start_run()
            events += self._finish(data)
        self._turn += 1
        self._run_id = f"run_{self._session_id}_{self._turn}"
        self._started = self._ended = False
        self._open_message = self._open_reasoning = None
        return events

    def _close_reasoning(self) -> list[dict[str, Any]]:
        if self._open_reasoning is None:
            return []
        message_id, self._open_reasoning = self._open_reasoning, None
        return [
            {"type": "REASONING_MESSAGE_END", "messageId": message_id},
            {"type": "REASONING_END", "messageId": message_id},
        ]

    def _close_message(self) -> list[dict[str, Any]]:
        if self._open_message is None:
            return []
        message_id, self._open_message = self._open_message, None
        return [{"type": "TEXT_MESSAGE_END", "messageId": message_id}]
