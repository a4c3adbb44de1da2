"""A LangChain callback handler that records a run into a replaydeck session.

    async with recorder.session("chat-1") as session:
        handler = ReplaydeckCallbackHandler(session)
        await graph.ainvoke(inputs, {"callbacks": [handler]})

In process, every streamed token arrives with its own time, so the session keeps the
model's exact rhythm (the LangSmith export keeps only token times, see README). The
events are the ones /langsmith makes from the same runs. Needs `replaydeck[langchain]`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from replaydeck.capture.sdk import RecordingSession
from replaydeck.telemetry.langsmith import error_message, sum_usage, user_text
from replaydeck.telemetry.langsmith_runs import Run


def _describe(error: BaseException) -> str:
    # As the last line of a traceback reads, which is what /langsmith records.
    return error_message(f"{type(error).__name__}: {error}")


def _plain(value: Any) -> Any:
    """A value as JSON can carry it: messages as their dicts, other objects as text."""
    if isinstance(value, BaseMessage):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    try:
        orjson.dumps(value)
    except TypeError:
        return str(value)
    return value


class ReplaydeckCallbackHandler(BaseCallbackHandler):
    """Records one LangChain or LangGraph run (or turns of one conversation).

    `final=True` ends the session with `final` (token usage summed) when the outermost
    run ends; `final=False` marks it with `trace.end` instead, so the next turn of a
    conversation continues the same session.
    """

    # Called on the thread that runs the step: no executor hop, so times are exact.
    run_inline = True

    def __init__(self, session: RecordingSession, *, final: bool = True) -> None:
        self.session = session
        self.final = final
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._root: UUID | None = None
        self._started: dict[UUID, datetime] = {}
        self._tools: dict[UUID, dict[str, str]] = {}
        self._streamed: set[UUID] = set()
        self._usage: list[dict[str, int]] = []
        self._errors: set[str] = set()

    # -- emitting, from the loop or from a worker thread (sync LangChain) ---------------

    def _emit(self, kind: str, data: Mapping[str, Any], *, at: datetime | None = None) -> None:
        ts = at or datetime.now(UTC)
        if threading.get_ident() == self._loop_thread:
            self.session.emit_nowait(kind, data, ts=ts)
        else:
            self._loop.call_soon_threadsafe(lambda: self.session.emit_nowait(kind, data, ts=ts))

    def _start(self, run_id: UUID, parent_run_id: UUID | None, inputs: dict[str, Any]) -> None:
        self._started[run_id] = datetime.now(UTC)
        if self._root is None and parent_run_id is None:
            self._root = run_id
            messages = inputs.get("messages")
            if isinstance(messages, list):
                inputs = {"messages": [_plain(message) for message in messages]}
            text = user_text(Run(id="root", trace_id="root", inputs=inputs))
            if text is not None:
                self._emit("user.message", {"text": text})

    def _end(self, run_id: UUID, error: BaseException | None = None) -> None:
        if run_id != self._root:
            return
        self._root = None
        data: dict[str, Any] = {}
        usage = sum_usage(self._usage)
        if usage:
            data["usage"] = usage
        if error is not None:
            data["reason"] = "error"
            self._error(error)
        self._usage = []
        self._errors = set()
        self._emit("final" if self.final else "trace.end", data)

    def _error(self, error: BaseException) -> None:
        # An exception passes up through every run around it: recorded once per turn.
        message = _describe(error)
        if message not in self._errors:
            self._errors.add(message)
            self._emit("error", {"message": message})

    def _duration(self, run_id: UUID) -> float:
        started = self._started.pop(run_id, None)
        if started is None:
            return 0.0
        return (datetime.now(UTC) - started).total_seconds() * 1000

    # -- chains (LangGraph graphs and nodes) ---------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any] | Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, inputs if isinstance(inputs, dict) else {})

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    # -- chat models ---------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        batch = [[message.model_dump() for message in batch] for batch in messages]
        self._start(run_id, parent_run_id, {"messages": batch})

    def on_llm_new_token(self, token: str | list[Any], *, run_id: UUID, **kwargs: Any) -> None:
        text = token if isinstance(token, str) else ""
        if text:
            self._streamed.add(run_id)
            self._emit("message.delta", {"text": text, "message_id": str(run_id)})

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        generation = response.generations[0][0] if response.generations else None
        if run_id not in self._streamed and generation is not None and generation.text:
            self._emit("message.delta", {"text": generation.text, "message_id": str(run_id)})
        self._streamed.discard(run_id)
        usage: dict[str, int] = {}
        if isinstance(generation, ChatGeneration):
            metadata = getattr(generation.message, "usage_metadata", None)
            usage = sum_usage([dict(metadata)]) if metadata else {}
        self._usage.append(usage)
        data = {"run_id": str(run_id), "usage": usage, "duration_ms": self._duration(run_id)}
        self._emit("model.usage", data)
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._error(error)
        self._end(run_id, error)

    # -- tools ---------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, {})
        name = (serialized or {}).get("name") or kwargs.get("name") or "tool"
        call_id = kwargs.get("tool_call_id") or str(run_id)
        tool = {"name": str(name), "call_id": str(call_id)}
        self._tools[run_id] = tool
        args = _plain(inputs) if isinstance(inputs, dict) else {"input": input_str}
        self._emit("tool.call", {**tool, "args": args})

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        failed = isinstance(output, ToolMessage) and output.status == "error"
        result = output.content if isinstance(output, ToolMessage) else output
        self._tool_result(run_id, _plain(result), failed)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._tool_result(run_id, _describe(error), True)

    def _tool_result(self, run_id: UUID, result: Any, failed: bool) -> None:
        tool = self._tools.pop(run_id, {"name": "tool", "call_id": str(run_id)})
        data: dict[str, Any] = {**tool, "result": result, "duration_ms": self._duration(run_id)}
        if failed:
            data["is_error"] = True
        self._emit("tool.result", data)
        self._end(run_id)
