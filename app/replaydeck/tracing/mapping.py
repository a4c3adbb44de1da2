"""Events → spans: the pure core of tracing.

`SessionSpans` is fed one session's envelopes in seq order and returns the spans that
each event finishes, as SDK `ReadableSpan`s ready for any span processor or exporter.
Span times are the events' `ts`, never the clock, so a batch import keeps real durations.
Nothing here does I/O or reads a clock.

A span's identity is the `span_id` the store stamped into its envelopes at commit
(assign.py): the mapping takes it as it is, and only names the span from the payload
(message id, tool call id) and its own count of messages. It runs the assigner itself
only for envelopes stored without a stamp, before stamping existed, so those sessions
get the very ids the store would have stamped, as they always did.

The mapping builds spans itself (`SpanDraft`) instead of driving an SDK `Tracer`,
because span ids must be its deterministic ids (stamped into envelopes before storage),
and a Tracer takes its ids from one provider-wide generator that cannot be told an id
per span.

Message spans carry streaming chunk telemetry, the numbers GenAI conventions omit. All
of it lives under `replaydeck.stream.` (documented in README, "Tracing"):

- `chunk_count`: number of `message.delta` events in the message
- `chars`: characters of text across them
- `time_to_first_chunk_ms`: first delta's ts minus the ts of the event just before the
  message (the prompt, a tool result …); absent when the message opens the session
- `duration_ms`: last delta's ts minus the first's
- `inter_chunk_gap_p50_ms`, `inter_chunk_gap_p95_ms`: gaps between consecutive deltas
  (linear interpolation between ranks); absent with fewer than two chunks
- `chars_per_second`: `chars` over `duration_ms`; absent when the duration is zero
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from replaydeck.tracing.assign import (
    DELTA,
    ENDS_MESSAGE,
    TOOL_CALL,
    TOOL_RESULT,
    USER_MESSAGE,
    SpanAssigner,
)
from replaydeck.tracing.ids import (
    TraceOrigin,
    derive_span_id,
    parse_hex_id,
    ts_to_ns,
)

SCOPE = InstrumentationScope("replaydeck.tracing", "0.1.0")
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
STREAM_PREFIX = "replaydeck.stream."
_NS_PER_MS = 1_000_000


class Outcome(StrEnum):
    COMPLETE = "complete"  # `final` arrived
    ABANDONED = "abandoned"  # idle past the timeout without `final`
    IN_PROGRESS = "in_progress"  # a snapshot of a live session (the /trace document)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: str
    origin: TraceOrigin
    agent_name: str | None = None

    @property
    def replay_path(self) -> str:
        # The path only: share tokens must never reach spans, and the host is the reader's.
        return f"/v1/sessions/{quote(self.session_id, safe='')}/replay"


class SessionSpans:
    def __init__(
        self,
        info: SessionInfo,
        *,
        resource: Resource | None = None,
        max_events_per_span: int = 1000,
        max_attribute_chars: int = 4096,
    ) -> None:
        self.info = info
        # Only for envelopes stored without a stamp: it sees none of the stamped ones.
        self.assigner = SpanAssigner(info.origin.trace_id)
        # The root's id is a function of the trace alone, the one the stamper writes too.
        self.root_span_id = self.assigner.root_span_id
        self._resource = resource or Resource.get_empty()
        self._max_events = max_events_per_span
        self._max_chars = max_attribute_chars
        self._root: SpanDraft | None = None
        self._message: SpanDraft | None = None
        self._tools: dict[int, SpanDraft] = {}
        self._closed: set[int] = set()
        self._previous_ns: int | None = None
        self._events = 0
        self._messages = 0  # message spans opened, for `message #n` and the index
        self.done = False
        # Spans already exported by an earlier life of this state (a session abandoned
        # when idle, then resumed): rebuilding must not send them a second time.
        self.exported: set[int] = set()

    def feed(self, envelope: Mapping[str, Any]) -> list[ReadableSpan]:
        """Advance by one stored event; return the spans it finished."""
        return self._new(self._feed(envelope))

    def finish(self, outcome: Outcome) -> list[ReadableSpan]:
        """End every open span at the session's last event; for idle or snapshot sessions."""
        return self._new(self._finish(outcome))

    def _new(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        if not self.exported:
            return spans
        return [s for s in spans if s.context is None or s.context.span_id not in self.exported]

    def _feed(self, envelope: Mapping[str, Any]) -> list[ReadableSpan]:
        if self.done:
            return []  # appends after `final` are refused upstream; nothing more belongs here
        ts = ts_to_ns(envelope.get("ts"))
        kind = envelope.get("type")
        data = envelope.get("data")
        # The stamp names the event's span (a root event's goes unused: the root's id is
        # a function of the trace).
        span_id = parse_hex_id(envelope.get("span_id"), width=16)
        if span_id is None:
            # Stored before stamping existed: derive the id the store would have stamped.
            span_id = self.assigner.assign(kind, data).span_id
        payload: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        seq = envelope.get("seq")
        self._events += 1

        finished: list[ReadableSpan] = []
        root = self._root or self._open_root(ts)
        message = self._message
        # The message ends at a tool call, a result, an error, the user's next message or
        # `final`, and a delta of another span starts a new one (another message id, or
        # the same resumed after a tool: the assigner's rules, carried by the stamps). A
        # `status` leaves it whole.
        if message is not None and (
            kind in ENDS_MESSAGE or (kind == DELTA and message.span_id != span_id)
        ):
            finished.append(self._close_message())

        if kind == DELTA:
            self._on_delta(span_id, ts, payload, seq)
        elif kind == TOOL_CALL:
            self._on_tool_call(span_id, ts, payload, seq)
        elif kind == TOOL_RESULT:
            finished.append(self._on_tool_result(span_id, ts, payload, seq))
        elif kind == "final":
            finished.extend(self._on_final(ts, payload))
        else:
            self._on_root_event(root, kind, ts, payload, seq)
        root.end_ns = max(root.end_ns, ts)
        self._previous_ns = ts
        return finished

    def _finish(self, outcome: Outcome) -> list[ReadableSpan]:
        if self.done or self._root is None:
            return []
        root = self._root
        finished: list[ReadableSpan] = []
        if self._message is not None:
            finished.append(self._close_message())
        for tool in list(self._tools.values()):
            tool.end_ns = root.end_ns
            if outcome is Outcome.ABANDONED:
                tool.status = Status(StatusCode.ERROR, "abandoned: no tool.result arrived")
            tool.attributes["replaydeck.outcome"] = outcome.value
            finished.append(self._close(tool))
        self._tools.clear()
        if outcome is Outcome.ABANDONED and root.status.status_code is not StatusCode.ERROR:
            root.status = Status(StatusCode.ERROR, "abandoned: the session went idle before final")
        finished.append(self._close_root(outcome))
        return finished

    # -- the root -------------------------------------------------------------------------

    def _open_root(self, ts: int) -> SpanDraft:
        info = self.info
        self._root = SpanDraft(
            span_id=self.root_span_id,
            name=f"invoke_agent {info.agent_name or info.session_id}",
            start_ns=ts,
            end_ns=ts,
            attributes={
                gen_ai.GEN_AI_OPERATION_NAME: "invoke_agent",
                gen_ai.GEN_AI_CONVERSATION_ID: info.session_id,
                "replaydeck.replay.path": info.replay_path,
            },
        )
        if info.agent_name:
            self._root.attributes[gen_ai.GEN_AI_AGENT_NAME] = info.agent_name
        return self._root

    def _on_root_event(
        self, root: SpanDraft, kind: object, ts: int, payload: Mapping[str, Any], seq: object
    ) -> None:
        if kind == "status":
            self._add_event(
                root, "status", ts, seq, {"replaydeck.status.label": str(payload.get("label", ""))}
            )
        elif kind == "error":
            message = str(payload.get("message", ""))
            code = payload.get("code")
            attributes: dict[str, AttributeValue] = {
                "exception.type": str(code) if code is not None else "error",
                "exception.message": message,
            }
            self._add_event(root, "exception", ts, seq, attributes)
            root.status = Status(StatusCode.ERROR, message)
        elif kind == USER_MESSAGE:
            # What the user asked, readable as it is in Jaeger's event list; structured
            # parts (images, files) as JSON beside it.
            said: dict[str, AttributeValue] = {
                "replaydeck.user_message.text": str(payload.get("text", ""))
            }
            if isinstance(payload.get("message_id"), str):
                said["replaydeck.user_message.id"] = payload["message_id"]
            if payload.get("content") is not None:
                said["replaydeck.user_message.content"] = self._json(payload["content"])
            self._add_event(root, USER_MESSAGE, ts, seq, said)
        else:
            # Free-form and control events keep their payload, so nothing is lost in Jaeger.
            self._add_event(root, str(kind), ts, seq, {"replaydeck.data": self._json(payload)})

    def _on_final(self, ts: int, payload: Mapping[str, Any]) -> list[ReadableSpan]:
        root = self._root
        assert root is not None
        usage = payload.get("usage")
        if isinstance(usage, Mapping):
            for attribute, names in (
                (gen_ai.GEN_AI_USAGE_INPUT_TOKENS, ("input_tokens", "prompt_tokens")),
                (gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, ("output_tokens", "completion_tokens")),
            ):
                value = next((usage[n] for n in names if isinstance(usage.get(n), int)), None)
                if value is not None:
                    root.attributes[attribute] = value
        root.end_ns = max(root.end_ns, ts)
        return self._finish(Outcome.COMPLETE)

    def _close_root(self, outcome: Outcome) -> ReadableSpan:
        root = self._root
        assert root is not None
        root.attributes["replaydeck.outcome"] = outcome.value
        root.attributes["replaydeck.event_count"] = self._events
        self.done = True
        parent_id = self.info.origin.parent_span_id
        parent = (
            SpanContext(self.info.origin.trace_id, parent_id, is_remote=True, trace_flags=SAMPLED)
            if parent_id
            else None
        )
        return self._close(root, parent=parent)

    # -- tools ----------------------------------------------------------------------------

    def _on_tool_call(self, span_id: int, ts: int, payload: Mapping[str, Any], seq: object) -> None:
        if span_id in self._tools or span_id in self._closed:
            span_id = derive_span_id(self.info.origin.trace_id, "tool-duplicate", str(seq))
        name = str(payload.get("name", ""))
        self._tools[span_id] = SpanDraft(
            span_id=span_id,
            name=f"execute_tool {name}",
            start_ns=ts,
            end_ns=ts,
            attributes={
                gen_ai.GEN_AI_OPERATION_NAME: "execute_tool",
                gen_ai.GEN_AI_TOOL_NAME: name,
                gen_ai.GEN_AI_TOOL_CALL_ID: str(payload.get("call_id", "")),
                gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS: self._json(payload.get("args")),
                "replaydeck.replay.path": self.info.replay_path,
            },
        )
        self._add_event(self._tools[span_id], TOOL_CALL, ts, seq, {})

    def _on_tool_result(
        self, span_id: int, ts: int, payload: Mapping[str, Any], seq: object
    ) -> ReadableSpan:
        tool = self._tools.pop(span_id, None)
        if tool is None:
            # A result without its call: a zero-length span, so the result is still visible.
            if span_id in self._closed:
                span_id = derive_span_id(self.info.origin.trace_id, "tool-orphan", str(seq))
            self._on_tool_call(span_id, ts, payload, seq)
            tool = self._tools.pop(span_id)
            tool.attributes["replaydeck.tool.unmatched"] = True
        tool.end_ns = max(tool.start_ns, ts)
        tool.attributes[gen_ai.GEN_AI_TOOL_CALL_RESULT] = self._json(payload.get("result"))
        self._add_event(tool, TOOL_RESULT, ts, seq, {})
        if payload.get("is_error") is True:
            tool.status = Status(StatusCode.ERROR, "the tool reported an error (is_error)")
            tool.attributes["error.type"] = "tool_error"
        return self._close(tool)

    # -- messages -------------------------------------------------------------------------

    def _on_delta(self, span_id: int, ts: int, payload: Mapping[str, Any], seq: object) -> None:
        message = self._message
        if message is None or message.span_id != span_id:
            if span_id in self._closed:
                span_id = derive_span_id(self.info.origin.trace_id, "message-resumed", str(seq))
            self._messages += 1
            raw_id = payload.get("message_id")
            message_id = str(raw_id) if raw_id is not None else None
            label = message_id if message_id is not None else f"#{self._messages}"
            message = self._message = SpanDraft(
                span_id=span_id,
                name=f"message {label}",
                start_ns=self._previous_ns if self._previous_ns is not None else ts,
                end_ns=ts,
                attributes={
                    "replaydeck.message.index": self._messages,
                    "replaydeck.replay.path": self.info.replay_path,
                },
                anchor_ns=self._previous_ns,
            )
            if message_id is not None:
                message.attributes["replaydeck.message.id"] = message_id
        text = str(payload.get("text", ""))
        message.chunk_ns.append(ts)
        message.chars += len(text)
        message.end_ns = max(message.end_ns, ts)
        self._add_event(message, DELTA, ts, seq, {"replaydeck.delta.text": text})

    def _close_message(self) -> ReadableSpan:
        message = self._message
        assert message is not None
        self._message = None
        message.attributes.update(
            chunk_telemetry(message.chunk_ns, message.chars, message.anchor_ns)
        )
        return self._close(message)

    # -- shared ---------------------------------------------------------------------------

    def _add_event(
        self,
        span: SpanDraft,
        name: str,
        ts: int,
        seq: object,
        attributes: dict[str, AttributeValue],
    ) -> None:
        span.add_event(name, ts, seq, attributes, limit=self._max_events)

    def _close(self, span: SpanDraft, *, parent: SpanContext | None = None) -> ReadableSpan:
        self._closed.add(span.span_id)
        trace_id = self.info.origin.trace_id
        if span is not self._root:
            parent = SpanContext(trace_id, self.root_span_id, is_remote=False, trace_flags=SAMPLED)
        return span.finish(trace_id, parent, self._resource)

    def _json(self, value: object) -> str:
        return json_attribute(value, self._max_chars)


# -- spans under construction ----------------------------------------------------------


@dataclass(slots=True)
class SpanDraft:
    span_id: int
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, AttributeValue]
    # (name, timestamp, attribute items): SDK Events are made at `finish`. An open
    # span can hold a thousand of them, and an Event is a dozen objects (bounded
    # attributes, a lock…) for the cyclic GC to walk again and again until then;
    # a tuple of plain values is left alone by the GC after it has seen it once.
    events: list[tuple[str, int, tuple[tuple[str, AttributeValue], ...]]] = field(
        default_factory=list
    )
    dropped_events: int = 0
    status: Status = field(default_factory=Status)
    # Message spans only: delta timestamps and text length, for chunk telemetry.
    chunk_ns: list[int] = field(default_factory=list)
    chars: int = 0
    anchor_ns: int | None = None

    def add_event(
        self,
        name: str,
        ts: int,
        seq: object,
        attributes: dict[str, AttributeValue],
        *,
        limit: int,
    ) -> None:
        if len(self.events) >= limit:
            # A long answer can stream thousands of deltas; telemetry still counts them all.
            self.dropped_events += 1
            return
        if isinstance(seq, int):
            attributes["replaydeck.seq"] = seq
        self.events.append((name, ts, tuple(attributes.items())))

    def finish(self, trace_id: int, parent: SpanContext | None, resource: Resource) -> ReadableSpan:
        if self.dropped_events:
            self.attributes["replaydeck.dropped_events"] = self.dropped_events
        return ReadableSpan(
            name=self.name,
            context=SpanContext(trace_id, self.span_id, is_remote=False, trace_flags=SAMPLED),
            parent=parent,
            resource=resource,
            attributes=self.attributes,
            events=tuple(Event(name, dict(items), timestamp=ts) for name, ts, items in self.events),
            status=self.status,
            start_time=self.start_ns,
            # Producer clocks can step back; a span never ends before it starts.
            end_time=max(self.end_ns, self.start_ns),
            instrumentation_scope=SCOPE,
        )


def json_attribute(value: object, max_chars: int) -> str:
    text = orjson.dumps(value, default=str).decode()
    if len(text) > max_chars:
        return text[:max_chars] + "…"
    return text


# -- streaming chunk telemetry ---------------------------------------------------------


def chunk_telemetry(
    chunk_ns: Sequence[int], chars: int, anchor_ns: int | None
) -> dict[str, AttributeValue]:
    if not chunk_ns:
        return {}
    first, last = chunk_ns[0], chunk_ns[-1]
    attributes: dict[str, AttributeValue] = {
        f"{STREAM_PREFIX}chunk_count": len(chunk_ns),
        f"{STREAM_PREFIX}chars": chars,
        f"{STREAM_PREFIX}duration_ms": (last - first) / _NS_PER_MS,
    }
    if anchor_ns is not None:
        attributes[f"{STREAM_PREFIX}time_to_first_chunk_ms"] = (first - anchor_ns) / _NS_PER_MS
    gaps = [(b - a) / _NS_PER_MS for a, b in itertools.pairwise(chunk_ns)]
    if len(gaps) == 1:
        attributes[f"{STREAM_PREFIX}inter_chunk_gap_p50_ms"] = gaps[0]
        attributes[f"{STREAM_PREFIX}inter_chunk_gap_p95_ms"] = gaps[0]
    elif gaps:
        # n=20 cut points: index 9 is the median, index 18 the 95th percentile.
        cuts = statistics.quantiles(gaps, n=20, method="inclusive")
        attributes[f"{STREAM_PREFIX}inter_chunk_gap_p50_ms"] = cuts[9]
        attributes[f"{STREAM_PREFIX}inter_chunk_gap_p95_ms"] = cuts[18]
    if last > first:
        attributes[f"{STREAM_PREFIX}chars_per_second"] = chars / ((last - first) / 1e9)
    return attributes
