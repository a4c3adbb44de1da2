"""The producer's W3C trace context for the current request.

A pure ASGI middleware (replaydeck.web.traceparent) extracts `traceparent` into the
OpenTelemetry context, the same contextvar OpenTelemetry's own instrumentations use,
so the store wrapper can read it wherever a session gets created without every route
passing headers along.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Scope

from replaydeck.tracing.ids import TraceOrigin

_propagator = TraceContextTextMapPropagator()


@contextmanager
def producer_trace(scope: Scope) -> Iterator[None]:
    """The request's `traceparent`, if it sent one, as the current OpenTelemetry context."""
    header = None
    if scope["type"] == "http":
        header = next((v for k, v in scope["headers"] if k == b"traceparent"), None)
    if header is None:
        yield
        return
    carrier = {"traceparent": header.decode("latin-1")}
    token = otel_context.attach(_propagator.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def current_origin() -> TraceOrigin | None:
    """The remote span the current request names in its `traceparent`, if any."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid or not span_context.is_remote:
        return None
    return TraceOrigin(trace_id=span_context.trace_id, parent_span_id=span_context.span_id)
