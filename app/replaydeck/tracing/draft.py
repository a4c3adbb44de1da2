"""A span under construction, and how it becomes an SDK `ReadableSpan`.

The mapping builds spans itself instead of driving an SDK `Tracer`, because span ids
must be its deterministic ids (stamped into envelopes before storage), and a Tracer
takes its ids from one provider-wide generator that cannot be told an id per span.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status
from opentelemetry.util.types import AttributeValue

SCOPE = InstrumentationScope("replaydeck.tracing", "0.1.0")
SAMPLED = TraceFlags(TraceFlags.SAMPLED)


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
