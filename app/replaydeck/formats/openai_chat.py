"""OpenAI Chat Completions streaming (`data: {"object": "chat.completion.chunk", …}` frames
without `event:`, ended by `data: [DONE]`); also what vLLM, Ollama, OpenRouter and LiteLLM
stream.

Decoding: a chunk whose delta holds text → `message.delta` (`message_id` is the chunk
id, with `:<choice index>` past the first choice); any other chunk (the role, tool call
argument pieces, a finish reason, the usage chunk) → `openai.chat.chunk`. Tool calls
stream as pieces keyed by their index; once a call is whole (the next call or the
choice's text begins, its `finish_reason` arrives, or `[DONE]`), it is recorded as
`tool.call` with its parsed arguments. A
`{"error": …}` frame → `error`. `[DONE]` is not stored as an event: it is the model
call's normal end and becomes `turn.end` (one call of a run, not the session), with the
usage chunk's `usage` (`stream_options: {"include_usage": true}`) and the finish
reasons; a client that closes after it did not interrupt anything. Chunks keep the
original as `raw`; the events assembled from them (`tool.call`, `turn.end`) carry
`raw_format` without `raw`, so a captured session is encoded back chunk for chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from replaydeck.events import TURN_END
from replaydeck.formats.base import (
    Captured,
    Tokens,
    dumps,
    is_control,
    is_synthetic,
    loads_or_none,
    parse_args,
    raw_of,
)
from replaydeck.formats.openai_responses import epoch_seconds
from replaydeck.formats.sse import SSEFrame

FORMAT = "openai-chat"
DONE = "[DONE]"
CHUNK_TYPE = "openai.chat.chunk"


def is_chunk(value: Any) -> bool:
    return isinstance(value, dict) and value.get("object") == "chat.completion.chunk"


def _index(value: Mapping[str, Any]) -> int:
    index = value.get("index")
    return index if isinstance(index, int) else 0


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: str = ""


class OpenAIChatDecoder:
    format = FORMAT
    ends_turns = True

    def __init__(self) -> None:
        # Open tool calls by (choice index, tool call index), in the order they began.
        self._calls: dict[tuple[int, int], _Call] = {}
        self._usage: dict[str, Any] | None = None
        self._finish: dict[int, str] = {}
        self._done = False

    def decode(self, frame: SSEFrame) -> list[Captured]:
        if self._done:
            return []
        if frame.data.strip() == DONE:
            self._done = True
            return [*self._flush(None), self._turn_end()]
        raw = loads_or_none(frame.data)
        keep = {"raw": raw, "raw_format": FORMAT}
        if isinstance(raw, dict) and not is_chunk(raw) and isinstance(raw.get("error"), dict):
            error = raw["error"]
            failure: dict[str, Any] = {"message": str(error.get("message") or "the stream failed")}
            if error.get("code") is not None:
                failure["code"] = error["code"]
            return [Captured("error", {**failure, **keep})]
        if not isinstance(raw, dict):
            return [Captured("openai.chat.unparsed", {"text": frame.data})]
        if isinstance(raw.get("usage"), dict):
            self._usage = raw["usage"]
        choices = [c for c in raw.get("choices") or [] if isinstance(c, dict)]
        chunk_id = str(raw.get("id") or "")
        text: list[str] = []
        message_id = chunk_id
        done: list[Captured] = []  # calls that ended before this chunk
        finished: list[int] = []
        for choice in choices:
            index = _index(choice)
            delta = _object(choice.get("delta"))
            if isinstance(delta.get("content"), str) and delta["content"]:
                done += self._flush(index)  # text again: the calls' arguments are whole
                text.append(delta["content"])
                message_id = chunk_id if index == 0 else f"{chunk_id}:{index}"
            for piece in delta.get("tool_calls") or []:
                if isinstance(piece, dict):
                    done += self._take(index, piece)
            if isinstance(choice.get("finish_reason"), str):
                self._finish[index] = choice["finish_reason"]
                finished.append(index)
        own: Captured
        if text:
            data: dict[str, Any] = {"text": "".join(text), **keep}
            if message_id:
                data["message_id"] = message_id
            own = Captured("message.delta", data)
        else:
            own = Captured(CHUNK_TYPE, keep)
        events = [*done, own]
        for index in finished:
            events += self._flush(index)
        return events

    def _take(self, choice: int, piece: Mapping[str, Any]) -> list[Captured]:
        """Add a piece to its call; a call's pieces are contiguous (the API, vLLM and
        Ollama stream one call after another), so the start of the next one ends it."""
        index = _index(piece)
        ended: list[Captured] = []
        if (choice, index) not in self._calls:
            ended = self._flush(choice)
        call = self._calls.setdefault((choice, index), _Call())
        function = _object(piece.get("function"))
        if piece.get("id"):
            call.id = str(piece["id"])
        if function.get("name"):
            call.name += str(function["name"])
        if isinstance(function.get("arguments"), str):
            call.arguments += function["arguments"]
        return ended

    def _flush(self, choice: int | None) -> list[Captured]:
        """The choice's assembled tool calls (every choice's when None), in order."""
        keys = [key for key in self._calls if choice is None or key[0] == choice]
        events = []
        for key in keys:
            call = self._calls.pop(key)
            data = {
                "name": call.name,
                "args": parse_args(call.arguments),
                "call_id": call.id or f"call_{key[0]}_{key[1]}",
                "raw_format": FORMAT,
            }
            events.append(Captured("tool.call", data))
        return events

    def _turn_end(self) -> Captured:
        data: dict[str, Any] = {"raw_format": FORMAT}
        if self._usage is not None:
            data["usage"] = self._usage
        if self._finish:
            data["finish_reasons"] = [self._finish[i] for i in sorted(self._finish)]
        return Captured(TURN_END, data)


class OpenAIChatEncoder:
    """Stored envelopes → `chat.completion.chunk` frames, then `data: [DONE]`.

    A captured chat session comes back chunk for chunk (their `raw`). Other sessions are
    synthesised the way the API streams one choice: the first chunk carries the role,
    text deltas carry `content`, each tool call is one chunk with its whole arguments,
    `turn.end` (or a `final` that ends an open call) becomes the finish chunk
    (`tool_calls` when there were any, else `stop`) and a usage chunk when the usage has
    token counts. Each model call has its own chunk id (`chatcmpl-<session>`, then
    `chatcmpl-<session>-2` …). `[DONE]` comes once, at the session's `final` after a
    completed call: the SDK stops reading at `[DONE]`, so a run of several calls is one
    stream of all their chunks. An `error` is the `{"error": …}` frame the API sends
    mid-stream (the SDK raises APIError on it).
    """

    format = FORMAT

    def __init__(self, session_id: str = "session") -> None:
        self._session_id = session_id
        self._turn = 1
        self._id = f"chatcmpl-{session_id}"
        self._created = 0
        self._started = False
        self._role_sent = False
        self._tool_calls = 0
        self._open = False  # a call has begun and not ended
        self._ended = False  # a call has ended, and nothing began after it

    def encode(self, envelope: Mapping[str, Any]) -> list[SSEFrame]:
        kind = envelope.get("type")
        if is_control(envelope):
            return []
        data = envelope.get("data")
        data = data if isinstance(data, Mapping) else {}
        if kind == "final" and (is_synthetic(envelope) or data.get("raw_format") == FORMAT):
            # Made by the capture (or, in sessions stored before turns, the chat's own
            # end): `[DONE]` when the last call completed, nothing after a cut-off one.
            done = self._ended or (data.get("raw_format") == FORMAT and not self._open)
            return [SSEFrame(data=DONE)] if done else []
        if kind == TURN_END and is_synthetic(envelope):
            self._next_turn(ended=False)  # cut short: its client saw no finish chunk
            return []
        if not self._started:
            self._started = True
            self._created = epoch_seconds(envelope.get("ts"))
        if data.get("raw_format") == FORMAT:
            # Captured from a chat stream: its chunks verbatim; what was assembled from
            # them is already on the wire.
            raw = raw_of(envelope, FORMAT)
            if kind == TURN_END:
                self._next_turn(ended=True)
            elif raw is not None:
                self._open, self._ended = True, False
                return [SSEFrame(data=dumps(raw))]
            return []
        frames = self._synthesise(kind, data)
        if kind == TURN_END:
            self._next_turn(ended=True)
        return frames

    def _synthesise(self, kind: Any, data: Mapping[str, Any]) -> list[SSEFrame]:
        if kind == "message.delta":
            self._open, self._ended = True, False
            return [self._chunk({"content": str(data.get("text", ""))})]
        if kind == "tool.call":
            self._open, self._ended = True, False
            index, self._tool_calls = self._tool_calls, self._tool_calls + 1
            call = {
                "index": index,
                "id": str(data.get("call_id", "")),
                "type": "function",
                "function": {
                    "name": str(data.get("name", "")),
                    "arguments": dumps(data.get("args", {})),
                },
            }
            return [self._chunk({"tool_calls": [call]})]
        if kind == "error":
            code = data.get("code")
            error = {
                "message": str(data.get("message", "")),
                "type": "replaydeck_replay",
                "param": None,
                "code": None if code is None else str(code),
            }
            return [SSEFrame(data=dumps({"error": error}))]
        if kind == "final" and self._ended:
            return [SSEFrame(data=DONE)]
        if kind in (TURN_END, "final"):
            reason = "tool_calls" if self._tool_calls else "stop"
            frames = [self._chunk({}, finish_reason=reason)]
            tokens = Tokens.of(data.get("usage"))
            if tokens is not None:
                frames.append(self._frame([], usage=tokens.chat()))
            return [*frames, SSEFrame(data=DONE)] if kind == "final" else frames
        return []

    def _next_turn(self, *, ended: bool) -> None:
        """The next model call streams chunks of its own id, from its role chunk."""
        self._turn += 1
        self._id = f"chatcmpl-{self._session_id}-{self._turn}"
        self._role_sent = False
        self._tool_calls = 0
        self._open, self._ended = False, ended

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> SSEFrame:
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._frame([choice])

    def _frame(
        self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None
    ) -> SSEFrame:
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": "replaydeck-replay",
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return SSEFrame(data=dumps(chunk))


def decode_completion(completion: Mapping[str, Any]) -> list[Captured]:
    """A whole (non-streamed) answer, `{"object": "chat.completion", …}`: per choice its
    text as one `message.delta` (`message_id` as for chunks) and each tool call as
    `tool.call`, then `turn.end` with the usage and finish reasons. The answer itself
    is not kept (`raw`): a replay synthesises the stream from these events."""
    events: list[Captured] = []
    chunk_id = str(completion.get("id") or "")
    reasons: list[str] = []
    for choice in completion.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        index = _index(choice)
        message = _object(choice.get("message"))
        if isinstance(message.get("content"), str) and message["content"]:
            data = {"text": message["content"], "message_id": chunk_id}
            if index:
                data["message_id"] = f"{chunk_id}:{index}"
            events.append(Captured("message.delta", data))
        for number, call in enumerate(message.get("tool_calls") or []):
            function = _object(_object(call).get("function"))
            data = {
                "name": str(function.get("name", "")),
                "args": parse_args(str(function.get("arguments") or "")),
                "call_id": str(_object(call).get("id") or f"call_{index}_{number}"),
            }
            events.append(Captured("tool.call", data))
        if isinstance(choice.get("finish_reason"), str):
            reasons.append(choice["finish_reason"])
    end: dict[str, Any] = {"response_id": chunk_id}
    if isinstance(completion.get("usage"), dict):
        end["usage"] = completion["usage"]
    if reasons:
        end["finish_reasons"] = reasons
    events.append(Captured(TURN_END, end))
    return events
