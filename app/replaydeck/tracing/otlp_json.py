"""A session's spans as one OTLP JSON document, the file Jaeger UI's "Upload JSON" reads.

The SDK's own OTLP encoder builds the protobuf request and `json_format` renders it;
the only change is the id spelling: the protobuf JSON mapping writes `bytes` as base64,
while OTLP/JSON specifies hex trace and span ids.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from replaydeck.tracing.ids import ts_to_ns
from replaydeck.tracing.mapping import Outcome, SessionInfo, SessionSpans

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_NS_PER_S = 1_000_000_000


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
