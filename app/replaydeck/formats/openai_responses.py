"""OpenAI Responses API streaming events (`event: response.output_text.delta` + JSON data).

Decoding: text deltas → `message.delta`; a finished `function_call` output item (it holds
the name, the complete arguments and the call id) → `tool.call`; `response.completed` and
`response.incomplete` → `turn.end` (with the response's `usage`: one model call ended,
not the session, which may make more); `response.failed` and `error` → `error`;
`response.created`/`response.in_progress`/`response.queued` → `status`; reasoning text
and summary deltas → `reasoning.delta`; a finished `mcp_call` item → `tool.call` and
`tool.result` (the provider ran it), a finished `custom_tool_call` item → `tool.call`
(`args` = `{"input": …}`). Everything else (argument deltas, which the finished item
repeats whole, content parts, MCP progress …) is kept as `openai.<type>`. Every event keeps the
original as `raw`, so encoding a captured session back gives the very same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from replaydeck.events import REASONING_DELTA, TURN_END
from replaydeck.formats.base import (
    Captured,
    Tokens,
    dumps,
    free_form_type,
    is_control,
    is_synthetic,
    is_synthetic_final,
    loads_or_none,
    parse_args,
    raw_of,
)
from replaydeck.formats.sse import SSEFrame

FORMAT = "openai-responses"
REASONING_DELTAS = frozenset(
    {"response.reasoning_text.delta", "response.reasoning_summary_text.delta"}
)


@dataclass(frozen=True, slots=True)
class ItemStream:
    """How the encoder streams one kind of output item, text with one part: a message
    (`output_text` content) or a reasoning item (one `summary_text` part)."""

    type: str
    parts: str  # the item's list of parts
    part_type: str
    index: str  # the events' name for the part's position
    part_event: str  # `<part_event>.added` / `.done`
    text_event: str  # `<text_event>.delta` / `.done`
    added: Mapping[str, Any]  # the item's other fields as `response.output_item.added` has them
    part_extra: Mapping[str, Any] = field(default_factory=dict)
    text_extra: Mapping[str, Any] = field(default_factory=dict)

    def part(self, text: str) -> dict[str, Any]:
        return {"type": self.part_type, "text": text, **self.part_extra}


MESSAGE = ItemStream(
    type="message",
    parts="content",
    part_type="output_text",
    index="content_index",
    part_event="response.content_part",
    text_event="response.output_text",
    added={"role": "assistant", "status": "in_progress", "content": []},
    part_extra={"annotations": []},
    text_extra={"logprobs": []},
)
# Reasoning from another protocol is streamed as a reasoning summary, the only reasoning
# text OpenAI's own models stream (`reasoning_text` comes from open-weight models only),
# so clients that show reasoning read it where they look for it.
REASONING = ItemStream(
    type="reasoning",
    parts="summary",
    part_type="summary_text",
    index="summary_index",
    part_event="response.reasoning_summary_part",
    text_event="response.reasoning_summary_text",
    added={"summary": []},
)


def epoch_seconds(ts: Any) -> int:
    """A stored envelope's RFC 3339 `ts` as the integer seconds OpenAI uses; 0 if absent."""
    try:
        return int(datetime.fromisoformat(str(ts)).timestamp())
    except ValueError:
        return 0


class OpenAIResponsesDecoder:
    format = FORMAT
    ends_turns = True

    def decode(self, frame: SSEFrame) -> list[Captured]:
        raw = loads_or_none(frame.data)
        if not isinstance(raw, dict):
            return [Captured("openai.unparsed", {"text": frame.data, "event": frame.event})]
        kind = str(raw.get("type") or frame.event or "unknown")
        keep = {"raw": raw, "raw_format": FORMAT}
        if kind == "response.output_text.delta" or kind in REASONING_DELTAS:
            data = {"text": str(raw.get("delta", ""))}
            if raw.get("item_id"):
                data["message_id"] = str(raw["item_id"])
            standard = "message.delta" if kind == "response.output_text.delta" else REASONING_DELTA
            return [Captured(standard, {**data, **keep})]
        item = raw.get("item")
        if kind == "response.output_item.done" and isinstance(item, dict):
            done = item_done(item, keep)
            if done:
                return done
        response = raw.get("response")
        response = response if isinstance(response, dict) else {}
        if kind in ("response.completed", "response.incomplete"):
            usage = response.get("usage")
            end: dict[str, Any] = {"usage": usage} if isinstance(usage, dict) else {}
            return [Captured(TURN_END, {**end, **keep})]
        if kind == "response.failed" or kind == "error":
            error = response.get("error") if kind == "response.failed" else raw
            error = error if isinstance(error, dict) else {}
            failure: dict[str, Any] = {
                "message": str(error.get("message") or "the model response failed")
            }
            if error.get("code") is not None:
                failure["code"] = error["code"]
            return [Captured("error", {**failure, **keep})]
        if kind in ("response.created", "response.in_progress", "response.queued"):
            return [Captured("status", {"label": kind.removeprefix("response."), **keep})]
        return [Captured(free_form_type("openai", kind), keep)]


def item_done(item: Mapping[str, Any], keep: dict[str, Any]) -> list[Captured]:
    """A finished output item that is a tool call: the function's (the app runs it), a
    custom tool's (its input is free text) or an MCP server's (the provider ran it, so
    its output or error is in the item: a `tool.result` too, with `raw_format` but
    without `raw`, since the one frame is sent back once)."""
    kind = item.get("type")
    name = str(item.get("name", ""))
    call_id = str(item.get("call_id") or item.get("id") or "")
    if kind == "function_call":
        args = parse_args(str(item.get("arguments", "")))
    elif kind == "custom_tool_call":
        args = {"input": item.get("input")}
    elif kind == "mcp_call":
        args = parse_args(str(item.get("arguments", "")))
        call = {"name": name, "args": args, "call_id": call_id}
        result: dict[str, Any] = {"name": name, "call_id": call_id}
        if item.get("error"):
            result.update(result=item["error"], is_error=True)
        else:
            result["result"] = item.get("output")
        server = {"server_label": item["server_label"]} if item.get("server_label") else {}
        return [
            Captured("tool.call", {**call, **server, **keep}),
            Captured("tool.result", {**result, **server, "raw_format": FORMAT}),
        ]
    else:
        return []
    return [Captured("tool.call", {"name": name, "args": args, "call_id": call_id, **keep})]


class OpenAIResponsesEncoder:
    """Stored envelopes → Responses streaming events.

    Captured OpenAI events come back verbatim (their `raw`). Other sessions are
    synthesised into the shape the official SDKs accumulate: `response.created`, then
    per message an output item with one text content part, per reasoning message a
    `reasoning` item with one summary part, per tool call a `function_call` item, and
    `response.completed` with every output item in the order they were streamed. Each model
    call of a session (ended by `turn.end`) is a response of its own: `resp_<session>`,
    then `resp_<session>_2` …, each with its `sequence_number` from 0.
    """

    format = FORMAT

    def __init__(self, session_id: str = "session") -> None:
        self._session_id = session_id
        self._turn = 1
        self._response_id = f"resp_{session_id}"
        self._seq = 0
        self._started = False
        self._output: list[dict[str, Any]] = []
        # The message or reasoning item being streamed (output items do not interleave),
        # by the stored type and message_id it streams.
        self._open_item: dict[str, Any] | None = None
        self._open_stream: ItemStream | None = None
        self._open_key: tuple[str, str] | None = None
        self._open_text = ""
        self._item_ids: set[str] = set()
        self._created_at = 0

    def encode(self, envelope: Mapping[str, Any]) -> list[SSEFrame]:
        kind = envelope.get("type")
        if is_control(envelope) or is_synthetic_final(envelope):
            return []
        if kind == TURN_END and is_synthetic(envelope):
            self._next_turn()  # a call cut short: its client saw no response.completed
            return []
        raw = raw_of(envelope, FORMAT)
        if isinstance(raw, dict):
            return [SSEFrame(data=dumps(raw), event=str(raw.get("type")))]
        data = envelope.get("data")
        data = data if isinstance(data, Mapping) else {}
        if data.get("raw_format") == FORMAT:
            return []  # assembled from a captured frame, which is already on the wire
        if kind == "final" and not self._started:
            return []  # the run's end after its last turn: every response is complete

        events: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            self._created_at = epoch_seconds(envelope.get("ts"))
            events.append({"type": "response.created", "response": self._response("in_progress")})
        if kind == "message.delta":
            events += self._delta(
                MESSAGE, str(data.get("message_id") or "msg_0"), str(data.get("text", ""))
            )
        elif kind == REASONING_DELTA:
            events += self._delta(
                REASONING, str(data.get("message_id") or "rs_0"), str(data.get("text", ""))
            )
        elif kind == "tool.call":
            events += self._close_item()
            events += self._tool_call(data)
        elif kind == "error":
            events += self._close_item()
            code = data.get("code")
            events.append(
                {
                    "type": "error",
                    "message": str(data.get("message", "")),
                    "code": None if code is None else str(code),
                    "param": None,
                }
            )
        elif kind in ("final", TURN_END):
            events += self._close_item()
            response = self._response("completed")
            tokens = Tokens.of(data.get("usage"))
            if tokens is not None:
                # The SDK's ResponseUsage requires every count and both details objects.
                response["usage"] = tokens.responses()
            events.append({"type": "response.completed", "response": response})
        frames = [self._frame(event) for event in events]
        if kind == TURN_END:
            self._next_turn()
        return frames

    def _next_turn(self) -> None:
        """The next model call is a response of its own."""
        self._turn += 1
        self._response_id = f"resp_{self._session_id}_{self._turn}"
        self._seq = 0
        self._started = False
        self._output = []
        self._open_item, self._open_stream, self._open_key = None, None, None
        self._open_text = ""
        self._item_ids = set()

    def _frame(self, event: dict[str, Any]) -> SSEFrame:
        event["sequence_number"] = self._seq
        self._seq += 1
        return SSEFrame(data=dumps(event), event=event["type"])

    def _response(self, status: str) -> dict[str, Any]:
        # The fields the official SDKs' Response model requires, so strict clients parse it.
        return {
            "id": self._response_id,
            "object": "response",
            "created_at": self._created_at,
            "status": status,
            "model": "replaydeck-replay",
            "output": list(self._output),
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }

    def _delta(self, stream: ItemStream, message_id: str, text: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._open_key != (stream.type, message_id):
            events += self._close_item()
            events += self._add_item(stream, message_id)
        assert self._open_item is not None
        item_id = self._open_item["id"]
        self._open_text += text
        events.append(
            {
                "type": f"{stream.text_event}.delta",
                "item_id": item_id,
                "output_index": len(self._output),
                stream.index: 0,
                "delta": text,
                **stream.text_extra,
            }
        )
        return events

    def _add_item(self, stream: ItemStream, message_id: str) -> list[dict[str, Any]]:
        """A new output item with its one (empty) part, which the deltas then fill. A
        message that goes on after reasoning or a tool call is a new item, and the SDKs
        refuse two items of one id in a response: the second is `<id>_2`."""
        item_id, n = message_id, 1
        while item_id in self._item_ids:
            n += 1
            item_id = f"{message_id}_{n}"
        self._item_ids.add(item_id)
        self._open_item = {"type": stream.type, "id": item_id, **stream.added}
        self._open_stream, self._open_key = stream, (stream.type, message_id)
        index = len(self._output)
        return [
            {"type": "response.output_item.added", "output_index": index, "item": self._open_item},
            {
                "type": f"{stream.part_event}.added",
                "item_id": item_id,
                "output_index": index,
                stream.index: 0,
                "part": stream.part(""),
            },
        ]

    def _close_item(self) -> list[dict[str, Any]]:
        item, stream = self._open_item, self._open_stream
        if item is None or stream is None:
            return []
        index, text = len(self._output), self._open_text
        part = stream.part(text)
        done = {**item, stream.parts: [part]}
        if "status" in done:
            done["status"] = "completed"
        self._output.append(done)
        self._open_item, self._open_stream, self._open_key = None, None, None
        self._open_text = ""
        common = {"item_id": item["id"], "output_index": index, stream.index: 0}
        return [
            {"type": f"{stream.text_event}.done", **common, "text": text, **stream.text_extra},
            {"type": f"{stream.part_event}.done", **common, "part": part},
            {"type": "response.output_item.done", "output_index": index, "item": done},
        ]

    def _tool_call(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        call_id = str(data.get("call_id", ""))
        arguments = dumps(data.get("args", {}))
        index = len(self._output)
        item = {
            "type": "function_call",
            "id": f"fc_{call_id}",
            "call_id": call_id,
            "name": str(data.get("name", "")),
            "arguments": "",
            "status": "in_progress",
        }
        done = {**item, "arguments": arguments, "status": "completed"}
        self._output.append(done)
        return [
            {"type": "response.output_item.added", "output_index": index, "item": item},
            {
                "type": "response.function_call_arguments.delta",
                "item_id": item["id"],
                "output_index": index,
                "delta": arguments,
            },
            {
                "type": "response.function_call_arguments.done",
                "item_id": item["id"],
                "output_index": index,
                "arguments": arguments,
            },
            {"type": "response.output_item.done", "output_index": index, "item": done},
        ]


def decode_response(response: Mapping[str, Any]) -> list[Captured]:
    """A whole (non-streamed) Responses API answer, `{"object": "response", …}`: what
    its stream would have given, one event per piece: each message's text as one
    `message.delta`, each reasoning item's text as one `reasoning.delta`, each
    `function_call` as `tool.call`, a failed response's `error`,
    then `turn.end` with the usage. The answer itself is not kept (`raw`): a replay
    synthesises the stream from these events."""
    events: list[Captured] = []
    for item in response.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            text = "".join(
                str(part.get("text", ""))
                for part in item.get("content") or []
                if isinstance(part, dict) and part.get("type") == "output_text"
            )
            if text:
                data = {"text": text, "message_id": str(item.get("id") or "msg_0")}
                events.append(Captured("message.delta", data))
        elif item.get("type") == "reasoning":
            # Its summary, and its reasoning text where the model returns that.
            parts = [*(item.get("summary") or []), *(item.get("content") or [])]
            text = "".join(str(part.get("text", "")) for part in parts if isinstance(part, dict))
            if text:
                data = {"text": text, "message_id": str(item.get("id") or "rs_0")}
                events.append(Captured(REASONING_DELTA, data))
        elif item.get("type") == "function_call":
            call = {
                "name": str(item.get("name", "")),
                "args": parse_args(str(item.get("arguments", ""))),
                "call_id": str(item.get("call_id") or item.get("id") or ""),
            }
            events.append(Captured("tool.call", call))
    error = response.get("error")
    if isinstance(error, dict) and error.get("message"):
        failure: dict[str, Any] = {"message": str(error["message"])}
        if error.get("code") is not None:
            failure["code"] = str(error["code"])
        events.append(Captured("error", failure))
    end: dict[str, Any] = {"response_id": str(response.get("id", ""))}
    if isinstance(response.get("usage"), dict):
        end["usage"] = response["usage"]
    events.append(Captured(TURN_END, end))
    return events
