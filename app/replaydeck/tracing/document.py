"""A stored session → its spans, and the OTLP JSON document of them.

The mapping's inputs come from the stored session here for both its users: the live
store rebuilds a session's state from the log, and GET …/trace and `replaydeck trace`
build the session's document with the same mapping as the live tracer, so it works
for any stored session, whether or not an exporter was configured when it was recorded.

The document is the file Jaeger UI's "Upload JSON" reads. The SDK's own OTLP encoder
builds the protobuf request and `json_format` renders it; the only change is the id
spelling: the protobuf JSON mapping writes `bytes` as base64, while OTLP/JSON specifies
hex trace and span ids.

The trace id a session shows in the API, and its Jaeger link, are here too: a session
recorded without a trace id shows the one its document uses.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from replaydeck.store.base import EventStore, SessionRecord
from replaydeck.tracing.ids import (
    TraceOrigin,
    derive_trace_id,
    parse_hex_id,
    trace_id_hex,
    ts_to_ns,
)
from replaydeck.tracing.mapping import Outcome, SessionInfo, SessionSpans

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_NS_PER_S = 1_000_000_000


# -- from stored sessions to the mapping's inputs -------------------------------------


def origin_of(record: SessionRecord) -> TraceOrigin:
    trace_id = parse_hex_id(record.trace_id, width=32)
    if trace_id is None:
        # A session stored before tracing was wired in has no trace id; derive a stable one
        # so its spans and its /trace document always agree.
        trace_id = derive_trace_id(record.id)
    joined = TraceOrigin.from_traceparent(record.traceparent)
    parent = joined.parent_span_id if joined is not None and joined.trace_id == trace_id else None
    return TraceOrigin(trace_id=trace_id, parent_span_id=parent)


def session_info(record: SessionRecord) -> SessionInfo:
    # An app may name its agent in the session metadata; the root span is then
    # `invoke_agent {name}` as in the GenAI conventions, else the session id stands in.
    agent = record.metadata.get("agent_name") or record.metadata.get("agent")
    return SessionInfo(
        session_id=record.id,
        origin=origin_of(record),
        agent_name=agent if isinstance(agent, str) and agent else None,
    )


async def read_all(
    store: EventStore,
    session_id: str,
    *,
    after: int = 0,
    before: int | None = None,
    page_size: int = 500,
) -> list[dict[str, Any]]:
    """Stored envelopes with after < seq (< before), read page by page."""
    events: list[dict[str, Any]] = []
    cursor = after
    while True:
        page = await store.read(session_id, after=cursor, limit=page_size)
        for stored in page:
            if before is not None and stored.seq >= before:
                return events
            events.append(stored.as_dict())
        if len(page) < page_size:
            return events
        cursor = page[-1].seq


# -- the trace id the API shows ---------------------------------------------------------


def session_trace_id(record: SessionRecord) -> str:
    """The stored trace id, or for a session recorded without one the id its /trace
    document uses, so the API and the document always name the same trace."""
    return record.trace_id or trace_id_hex(origin_of(record).trace_id)


def jaeger_trace_url(jaeger_url: str | None, trace_id: str) -> str | None:
    """`{REPLAYDECK_JAEGER_URL}/trace/{trace_id}`, the Jaeger UI page of one trace."""
    if not jaeger_url:
        return None
    return f"{jaeger_url.rstrip('/')}/trace/{trace_id}"


# -- the OTLP JSON document --------------------------------------------------------------


async def session_document(
    store: EventStore,
    session_id: str,
    *,
    now_ns: int,
    idle_timeout_s: float,
    resource: Resource,
    page_size: int = 500,
) -> dict[str, Any]:
    """Built from the log with the same mapping as the live tracer, so it works for any
    stored session, whether or not an exporter was configured when it was recorded."""
    record = await store.get_session(session_id)
    events = await read_all(store, session_id, page_size=page_size)
    build = functools.partial(
        _build, session_info(record), events, now_ns, idle_timeout_s, resource
    )
    # A long session is a lot of CPU-bound encoding: keep it off the event loop.
    return await anyio.to_thread.run_sync(build)


def _build(
    info: Any, events: list[dict[str, Any]], now_ns: int, idle_timeout_s: float, resource: Resource
) -> dict[str, Any]:
    spans = session_spans(
        info, events, now_ns=now_ns, idle_timeout_s=idle_timeout_s, resource=resource
    )
    return to_otlp_json(spans)


def session_spans(
    info: SessionInfo,
    events: Iterable[Mapping[str, Any]],
    *,
    now_ns: int,
    idle_timeout_s: float,
    resource: Resource | None = None,
) -> list[ReadableSpan]:
    """Every span of a stored session, open ones ended at its last event.

    A session without `final` counts as abandoned once its last event is older than the
    idle timeout, and as in progress before that, the same rule the live tracer applies.
    """
    spans = SessionSpans(info, resource=resource)
    finished: list[ReadableSpan] = []
    last_ns: int | None = None
    for event in events:
        finished.extend(spans.feed(event))
        ts = ts_to_ns(event.get("ts"))
        last_ns = ts if last_ns is None else max(last_ns, ts)
    if not spans.done and last_ns is not None:
        idle = (now_ns - last_ns) / _NS_PER_S > idle_timeout_s
        finished.extend(spans.finish(Outcome.ABANDONED if idle else Outcome.IN_PROGRESS))
    return finished


def to_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    request = encode_spans(spans)
    document: dict[str, Any] = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _hex_ids(span)
                for link in span.get("links", []):
                    _hex_ids(link)
    document.setdefault("resourceSpans", [])
    return document


def from_otlp_json(document: Mapping[str, Any]) -> ExportTraceServiceRequest:
    """Parse a document back into the protobuf message, strictly (unknown fields fail)."""
    return json_format.ParseDict(_base64_ids(dict(document)), ExportTraceServiceRequest())


def _hex_ids(obj: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        if key in obj:
            obj[key] = base64.b64decode(obj[key]).hex()


def _base64_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: base64.b64encode(bytes.fromhex(item)).decode()
            if key in _ID_FIELDS and isinstance(item, str)
            else _base64_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_base64_ids(item) for item in value]
    return value
