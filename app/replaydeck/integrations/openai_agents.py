"""The OpenAI Agents SDK (`openai-agents`), recorded in process through the Recorder.

Two hooks, for apps that would rather not point the SDK's exporter at replaydeck
(`POST /v1/traces/ingest` records the same traces with configuration alone):

- `ReplaydeckTracingProcessor`: a `TracingProcessor` (`add_trace_processor`) that maps
  each trace exactly as the ingest does (replaydeck.telemetry.openai_agents), and also
  records the text of Responses models, which it sees whole while the exporters send
  only the response's id. It sends a trace's events in time order when the SDK ends
  the trace, and ends the session then.
- `record_stream`: passes `Runner.run_streamed(...).stream_events()` on unchanged and
  records it token by token, at the time each event arrives.

Needs `pip install "replaydeck[openai-agents]"`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime
from typing import Any

import orjson
from agents import (
    AgentUpdatedStreamEvent,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
    RunResultStreaming,
    StreamEvent,
)
from agents.tracing import ResponseSpanData, Span, Trace, TracingProcessor

from replaydeck.capture.sdk import Recorder, RecordingSession
from replaydeck.errors import ReplaydeckError
from replaydeck.events import MAX_TS_US, parse_ts
from replaydeck.telemetry.batch import TraceBatch, TraceEnd, session_name
from replaydeck.telemetry.openai_agents import read_export

log = logging.getLogger("replaydeck.integrations")


class ReplaydeckTracingProcessor(TracingProcessor):
    """Records every trace the SDK makes as a session (named as the ingest names it:
    the trace's group id, else its trace id)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._sessions: dict[str, RecordingSession] = {}  # by session id
        self._traces: dict[str, tuple[str, bool]] = {}  # trace id → (session id, grouped)
        self._ends: dict[str, TraceEnd] = {}  # the last top-level span that may end it
        self._handed_off: dict[str, set[str]] = {}
        # A trace's events until it ends: spans end children first, and the session
        # reads in time order, as the ingest stores a batch.
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def on_trace_start(self, trace: Trace) -> None:
        exported = trace.export()
        batch = self._read(exported)
        if batch is None or not batch.headers:
            return
        header = batch.headers[0]
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # The Recorder sends from the app's event loop; a trace begun outside one
            # (`with trace(): Runner.run_sync(...)`) has none to send from.
            log.warning(
                "replaydeck: trace %s began outside an event loop and is not recorded; "
                "export it to POST /v1/traces/ingest instead",
                header.trace_id,
            )
            return
        grouped = header.group_id is not None
        session_id = session_name(
            header.group_id or header.trace_id, "group" if grouped else "trace"
        )
        self._traces[header.trace_id] = (session_id, grouped)
        if session_id not in self._sessions:
            self._sessions[session_id] = self.recorder.open(session_id, header.metadata)

    def on_span_start(self, span: Span[Any]) -> None:
        pass  # a span is recorded when it ends, with both its times

    def on_span_end(self, span: Span[Any]) -> None:
        exported = span.export()
        if exported is not None and isinstance(span.span_data, ResponseSpanData):
            # In process the whole response is at hand: its output items hold the text.
            response = span.span_data.response
            if response is not None:
                exported["span_data"]["output"] = response.model_dump(mode="json")["output"]
            exported["span_data"]["input"] = span.span_data.input
        batch = self._read(exported)
        if batch is None or span.trace_id not in self._traces:
            return
        for trace_id, parent_id in batch.handoff_parents:
            self._handed_off.setdefault(trace_id, set()).add(parent_id)
        for end in batch.ends:
            handed_off = self._handed_off.get(end.trace_id, set())
            if not (end.unless_handed_off and end.span_id in handed_off):
                self._ends[end.trace_id] = end
        pending = self._pending.setdefault(span.trace_id, [])
        for group in batch.events:
            pending.extend(group.events)

    def on_trace_end(self, trace: Trace) -> None:
        known = self._traces.pop(trace.trace_id, None)
        self._handed_off.pop(trace.trace_id, None)
        end = self._ends.pop(trace.trace_id, None)
        pending = self._pending.pop(trace.trace_id, [])
        if known is None:
            return
        session_id, grouped = known
        session = self._sessions[session_id]
        for event in sorted(pending, key=_time):
            _emit(session, event)
        if end is not None:
            _emit(session, end.event(grouped=grouped))
        if not grouped:
            session.end_with_final()  # when no task or agent span ended the trace
            del self._sessions[session_id]
            # Sends what is queued and lets go; the app's event loop runs it.
            _background(session.aclose())

    def shutdown(self) -> None:
        pass  # Recorder.aclose() flushes and closes every open session

    def force_flush(self) -> None:
        pass  # the Recorder sends on its own; `await session.flush()` waits for it

    def _read(self, exported: dict[str, Any] | None) -> TraceBatch | None:
        if exported is None:
            return None
        try:
            return read_export({"data": [exported]})
        except ReplaydeckError as e:
            # Never the app's problem: the span is not recorded, and the log says why.
            log.warning("replaydeck: an Agents SDK span was not recorded: %s", e.detail)
            return None


_TASKS: set[asyncio.Task[None]] = set()


def _background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    # Held until done: the loop keeps only a weak reference to a task.
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def _time(event: dict[str, Any]) -> int:
    ts = event.get("ts")
    return MAX_TS_US if ts is None else parse_ts(ts)  # read_export checked it


def _emit(session: RecordingSession, event: dict[str, Any]) -> None:
    ts = event.get("ts")
    try:
        session.emit_nowait(
            event["type"],
            event.get("data"),
            id=event.get("id"),
            ts=datetime.fromisoformat(ts) if isinstance(ts, str) else None,
        )
    except ReplaydeckError as e:
        log.warning("replaydeck: an Agents SDK event was not recorded: %s", e.detail)


async def record_stream(
    result: RunResultStreaming, session: RecordingSession
) -> AsyncIterator[StreamEvent]:
    """Every event of `result.stream_events()`, unchanged, each recorded as it arrives;
    `final` with the run's usage once the stream ends."""
    tools: dict[str, str] = {}  # call id → tool name, for the results
    async for event in result.stream_events():
        for kind, data in stream_event(event, tools):
            session.emit_nowait(kind, data)
        yield event
    usage = result.context_wrapper.usage
    session.emit_nowait(
        "final",
        {
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
                "requests": usage.requests,
            }
        },
    )


def stream_event(event: StreamEvent, tools: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The replaydeck events one stream event makes (most make none)."""
    if isinstance(event, RawResponsesStreamEvent):
        data = event.data
        if data.type == "response.output_text.delta":
            return [("message.delta", {"text": data.delta, "message_id": data.item_id})]
        return []
    if isinstance(event, AgentUpdatedStreamEvent):
        return [("status", {"label": f"agent {event.new_agent.name}"})]
    if not isinstance(event, RunItemStreamEvent):
        return []
    raw = _plain(event.item.raw_item)
    if event.name == "tool_called":
        name, call_id = str(raw.get("name", "tool")), str(raw.get("call_id", ""))
        tools[call_id] = name
        return [
            (
                "tool.call",
                {"name": name, "args": _arguments(raw.get("arguments")), "call_id": call_id},
            )
        ]
    if event.name == "tool_output":
        call_id = str(raw.get("call_id", ""))
        result = getattr(event.item, "output", raw.get("output"))
        return [
            (
                "tool.result",
                {
                    "name": tools.get(call_id, "tool"),
                    "call_id": call_id,
                    "result": _jsonable(result),
                },
            )
        ]
    if event.name == "handoff_occured":
        source = getattr(event.item, "source_agent", None)
        target = getattr(event.item, "target_agent", None)
        label = f"handoff {getattr(source, 'name', '?')} → {getattr(target, 'name', '?')}"
        return [("status", {"label": label})]
    return []


def _plain(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    dump = getattr(item, "model_dump", None)
    return dump(mode="json") if callable(dump) else {}


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str) and raw:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {"input": raw}
        return parsed if isinstance(parsed, dict) else {"input": parsed}
    return {}


def _jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str))
