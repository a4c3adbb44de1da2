"""The OpenAI Agents SDK's trace export, mapped to replaydeck events.

Both SDKs post the same thing to `{endpoint}` (Python `BackendSpanExporter`, TypeScript
`OpenAITracingExporter`): `{"data": [item, …]}`, each item a trace header
(`{"object": "trace", "id", "workflow_name", "group_id", "metadata"}`, sent when the
trace starts) or a finished span (`{"object": "trace.span", "id", "trace_id",
"parent_id", "started_at", "ended_at", "span_data": {"type", …}, "error"}`, sent when
the span ends, so children come before their parents). Nothing is sent when a trace
ends: the end of its run is the end of its top-level span, the `task` span both SDKs
open around every `Runner.run` (or, without task spans, a top-level agent span that
did not hand off).

Every event's id is made from the span's id, so a re-sent batch adds nothing; its time
is the span's own `started_at` / `ended_at`. README "OpenAI Agents SDK" lists what each
span becomes and what is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from replaydeck.errors import InvalidEvent, InvalidRequest
from replaydeck.events import MAX_ID_LENGTH, parse_ts
from replaydeck.formats.user_input import user_message
from replaydeck.storable import flaw
from replaydeck.telemetry.batch import TraceBatch, TraceEnd, TraceEvents, TraceHeader
from replaydeck.telemetry.content import content_text

SOURCE = "openai-agents"
# Trace metadata larger than this is left out of the session's metadata (which has
# its own limit, and a refusal there would lose the whole batch).
MAX_TRACE_METADATA_BYTES = 8 * 1024
# Audio in transcription and speech spans: base64 that nobody reads in a replay.
_AUDIO_SPANS = frozenset({"transcription", "speech"})
# The deepest a model span's output is searched for text (a list of responses, each
# with a list of items, each with a list of parts).
_MAX_OUTPUT_DEPTH = 6


def read_export(payload: Any) -> TraceBatch:
    """The events of one exporter request; InvalidRequest/InvalidEvent with a sentence."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
        raise InvalidRequest(
            'The body is not a trace export: send {"data": [...]} with trace and span '
            "objects, as the Agents SDK's trace exporter does."
        )
    batch = TraceBatch()
    for index, item in enumerate(payload["data"]):
        if not isinstance(item, Mapping):
            raise InvalidEvent(
                f"data[{index}] is a JSON {type(item).__name__}; each item is a trace or "
                'span object with "object": "trace" or "trace.span".'
            )
        kind = item.get("object")
        if kind == "trace":
            batch.headers.append(_header(item, index))
        elif kind == "trace.span":
            _span(item, index, batch)
        else:
            batch.ignored += 1
    return batch


def _text(item: Mapping[str, Any], name: str, index: int, *, required: bool = True) -> Any:
    value = item.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidEvent(
            f"data[{index}] ({item.get('object')}) has no string '{name}'; the Agents SDK "
            "sends one with every trace and span."
        )
    if (reason := flaw(value)) is not None:
        raise InvalidEvent(f"data[{index}] has a '{name}' that {reason}.")
    return value


def _header(item: Mapping[str, Any], index: int) -> TraceHeader:
    trace_id = _text(item, "id", index)
    workflow = item.get("workflow_name")
    group_id = item.get("group_id")
    if group_id is not None and (not isinstance(group_id, str) or flaw(group_id)):
        raise InvalidEvent(f"data[{index}] (trace) has a 'group_id' that is not plain text.")
    metadata: dict[str, Any] = {"source": SOURCE, "trace_id": trace_id}
    if isinstance(workflow, str) and workflow:
        # The session's root span is named `invoke_agent {agent_name}`.
        metadata["workflow_name"] = metadata["agent_name"] = workflow
    if group_id:
        metadata["group_id"] = group_id
    extra = item.get("metadata")
    if isinstance(extra, Mapping) and extra:
        try:
            fits = len(orjson.dumps(extra, default=str)) <= MAX_TRACE_METADATA_BYTES
        except orjson.JSONEncodeError:  # nested deeper than JSON encoders go
            fits = False
        if fits:
            metadata["trace_metadata"] = dict(extra)
        else:
            metadata["trace_metadata_omitted"] = True
    return TraceHeader(trace_id=trace_id, group_id=group_id or None, metadata=metadata)


def _time(item: Mapping[str, Any], name: str, index: int) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise InvalidEvent("not text")
        parse_ts(value)
    except InvalidEvent:
        shown = repr(value[:64]) if isinstance(value, str) else f"of type {type(value).__name__}"
        raise InvalidEvent(
            f"data[{index}] (span {item['id'][:64]}) has {name} {shown}, which is not an "
            "ISO 8601 time with a zone in years 1 to 9999 (the SDKs send e.g. "
            "2026-12-03T10:00:00.250000+00:00)."
        ) from None
    return value


def _span(item: Mapping[str, Any], index: int, batch: TraceBatch) -> None:
    span_id = _text(item, "id", index)
    trace_id = _text(item, "trace_id", index)
    parent_id = _text(item, "parent_id", index, required=False)
    data = item.get("span_data")
    if not isinstance(data, Mapping) or not isinstance(data.get("type"), str):
        raise InvalidEvent(
            f"data[{index}] (span {span_id[:64]}) has no 'span_data' object with a 'type'."
        )
    started = _time(item, "started_at", index)
    ended = _time(item, "ended_at", index) or started
    started = started or ended
    error = item.get("error")
    if error is not None and not isinstance(error, Mapping):
        error = {"message": _label(error, "error")}
    span = _Span(span_id, started, ended, data, error, item.get("metadata"))
    events = span.events()
    if span.is_task and parent_id is not None:
        # A run inside another one's tool (an agent used as a tool): not the trace's end.
        events.append(
            span.event(
                "agents.task",
                {"name": span.custom.get("name"), "usage": span.usage()},
                "task",
                ended,
            )
        )
    if error is not None and span.kind != "function":
        events.append(span.error_event())
    if events:
        batch.events.append(TraceEvents(trace_id=trace_id, events=events))
    if span.kind == "handoff" and parent_id is not None:
        batch.handoff_parents.append((trace_id, parent_id))
    if parent_id is None and (span.is_task or span.kind == "agent"):
        batch.ends.append(
            TraceEnd(
                trace_id=trace_id,
                span_id=span_id,
                final=span.event("final", {"usage": span.usage()}, "final", ended),
                unless_handed_off=not span.is_task,
            )
        )


def event_id(span_id: str, suffix: str) -> str:
    """An event id from the SDK's span id: the same span always gives the same ids."""
    made = f"{span_id}.{suffix}"
    if len(made) <= MAX_ID_LENGTH:
        return made
    return hashlib.sha256(made.encode()).hexdigest()[:40] + f".{suffix}"[: MAX_ID_LENGTH - 40]


def duration_ms(started: str | None, ended: str | None) -> float | None:
    if started is None or ended is None:
        return None
    return (parse_ts(ended) - parse_ts(started)) / 1000


class _Span:
    """One exported span's events."""

    def __init__(
        self,
        span_id: str,
        started: str | None,
        ended: str | None,
        data: Mapping[str, Any],
        error: Mapping[str, Any] | None,
        metadata: Any,
    ) -> None:
        self.id = span_id
        self.started = started
        self.ended = ended
        self.data = data
        self.error = error
        self.metadata = metadata if isinstance(metadata, Mapping) else {}
        self.kind: str = data["type"]
        custom = data.get("data") if self.kind == "custom" else None
        self.custom: Mapping[str, Any] = custom if isinstance(custom, Mapping) else {}
        self.is_task = self.kind == "custom" and data.get("name") == "task"

    def event(self, kind: str, data: dict[str, Any], suffix: str, ts: str | None) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind, "data": data, "id": event_id(self.id, suffix)}
        if ts is not None:
            event["ts"] = ts
        return event

    def usage(self) -> Any:
        # Model spans and the runner's task/turn spans carry `usage`; Python agent spans
        # put the run's usage in the span's metadata.
        for source in (self.data, self.custom, self.metadata):
            if isinstance(source.get("usage"), Mapping):
                return dict(source["usage"])
        return None

    def events(self) -> list[dict[str, Any]]:
        kind = self.kind
        if kind == "function":
            return self._tool()
        if kind in ("generation", "response"):
            return self._model()
        if kind == "agent":
            name = _label(self.data.get("name"), "agent")
            info = {k: self.data.get(k) for k in ("tools", "handoffs", "output_type")}
            return [
                self.event(
                    "status",
                    {"label": f"agent {name}", "agent": name, **info},
                    "agent",
                    self.started,
                )
            ]
        if kind == "handoff":
            source, target = self.data.get("from_agent"), self.data.get("to_agent")
            label = f"handoff {_label(source, '?')} → {_label(target, '?')}"
            return [
                self.event(
                    "status",
                    {"label": label, "from_agent": source, "to_agent": target},
                    "handoff",
                    self.ended,
                )
            ]
        if kind == "guardrail":
            data = {"name": self.data.get("name"), "triggered": self.data.get("triggered") is True}
            return [self.event("agents.guardrail", data, "guardrail", self.ended)]
        if self.is_task:
            return []  # the trace's end (TraceEnd), or a nested run's (agents.task)
        if kind == "custom" and self.data.get("name") == "turn":
            data = {k: self.custom.get(k) for k in ("turn", "agent_name", "usage")}
            return [self.event("agents.turn", data, "turn", self.ended)]
        payload = {k: v for k, v in self.data.items() if k != "type"}
        if kind in _AUDIO_SPANS:
            for key in ("input", "output"):
                if isinstance(payload.get(key), Mapping):
                    payload[key] = {k: v for k, v in payload[key].items() if k != "data"}
        return [self.event("agents.span", {"span_type": kind, **payload}, "span", self.ended)]

    def _tool(self) -> list[dict[str, Any]]:
        name = _label(self.data.get("name"), "tool")
        raw = self.data.get("input")
        args: Any = None
        if isinstance(raw, str) and raw:
            try:
                args = orjson.loads(raw)
            except orjson.JSONDecodeError:
                args = None
        if not isinstance(args, dict):
            args = {} if raw in (None, "") else {"input": raw}
        call: dict[str, Any] = {"name": name, "args": args, "call_id": self.id}
        if self.data.get("mcp_data") is not None:
            call["mcp_data"] = self.data["mcp_data"]
        result: dict[str, Any] = {
            "name": name,
            "call_id": self.id,
            "result": self.data.get("output"),
            "duration_ms": duration_ms(self.started, self.ended),
        }
        if self.error is not None:
            result["is_error"] = True
            result["error"] = self.error.get("message")
            if self.error.get("data") is not None:
                result["error_data"] = self.error["data"]
        return [
            self.event("tool.call", call, "call", self.started),
            self.event("tool.result", result, "result", self.ended),
        ]

    def _model(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        said = user_message({"input": self.data.get("input")})
        if said is not None:
            events.append(self.event("user.message", said, "user", self.started))
        for number, text in enumerate(output_texts(self.data.get("output"))):
            data = {"text": text, "message_id": self.id if number == 0 else f"{self.id}.{number}"}
            events.append(self.event("message.delta", data, f"delta.{number}", self.ended))
        usage = {
            "span_type": self.kind,
            "model": self.data.get("model"),
            "response_id": self.data.get("response_id"),
            "usage": self.usage(),
        }
        events.append(self.event("agents.usage", usage, "usage", self.ended))
        return events

    def error_event(self) -> dict[str, Any]:
        assert self.error is not None
        data: dict[str, Any] = {
            "message": _label(self.error.get("message"), "error"),
            "code": self.kind,
        }
        if self.error.get("data") is not None:
            data["data"] = self.error["data"]
        return self.event("error", data, "error", self.ended)


def _label(value: Any, default: str) -> str:
    # Not str(value): a crafted body nests a list deep enough for repr to overflow.
    return value if isinstance(value, str) and value else default


def output_texts(output: Any) -> list[str]:
    """The assistant's text in a model span's `output`, one string per message.

    The shapes the SDKs record: Chat Completions messages (`{"role": "assistant",
    "content": …}`), whole `chat.completion` objects (TypeScript), Responses objects
    or their output items (`{"type": "message", "content": [{"type": "output_text",
    "text": …}]}`), and plain strings.
    """
    texts: list[str] = []

    def visit(value: Any, depth: int = 0) -> None:
        if depth > _MAX_OUTPUT_DEPTH:
            return  # no SDK nests its output this deep; a crafted body may
        if isinstance(value, str):
            if value:
                texts.append(value)
        elif isinstance(value, list):
            for item in value:
                visit(item, depth + 1)
        elif isinstance(value, Mapping):
            if isinstance(value.get("choices"), list):
                for choice in value["choices"]:
                    if isinstance(choice, Mapping):
                        visit(choice.get("message"), depth + 1)
            elif isinstance(value.get("output"), list):
                visit(value["output"], depth + 1)
            elif value.get("role", "assistant") == "assistant" and value.get("type") in (
                None,
                "message",
            ):
                text = content_text(value.get("content"))
                if text:
                    texts.append(text)

    visit(output)
    return texts
