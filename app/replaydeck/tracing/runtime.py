"""Tracing for the app's lifespan: exporter, tracer, idle sweeper, store wrapper.

Span export is configured by the standard OpenTelemetry environment variables. This
reads `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`
(`http/protobuf`, the default, or `grpc`), `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`,
`OTEL_SERVICE_NAME` and `OTEL_TRACES_EXPORTER=none`. The exporters themselves read the
remaining standard variables (timeout, compression, certificates), and the
BatchSpanProcessor its `OTEL_BSP_*` ones. No endpoint means no export at all.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import anyio
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.re import parse_env_headers

from replaydeck.store.base import EventStore
from replaydeck.tracing.store import TracingStore
from replaydeck.tracing.tracer import SessionTracer

log = logging.getLogger("replaydeck.tracing")

Protocol = Literal["http/protobuf", "grpc"]
DEFAULT_SERVICE_NAME = "replaydeck"


@dataclass(frozen=True, slots=True)
class ExportConfig:
    endpoint: str
    protocol: Protocol = "http/protobuf"
    headers: dict[str, str] = field(default_factory=dict)


def _traces_or_generic(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or environ.get(
        f"OTEL_EXPORTER_OTLP_{name}"
    )
    return value.strip() if value and value.strip() else None


def export_config(environ: Mapping[str, str]) -> ExportConfig | None:
    """What to export to, or None when no endpoint is configured."""
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    raw_protocol = _traces_or_generic(environ, "PROTOCOL") or "http/protobuf"
    if raw_protocol not in ("http/protobuf", "grpc"):
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={raw_protocol!r} is not supported; "
            "set it to 'http/protobuf' or 'grpc'."
        )
    protocol: Protocol = "grpc" if raw_protocol == "grpc" else "http/protobuf"
    specific = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    generic = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if specific:
        endpoint = specific  # the signal-specific URL is used as given, by the spec
    elif generic:
        # The generic endpoint is a base URL: OTLP/HTTP appends the signal path, gRPC does not.
        endpoint = generic if protocol == "grpc" else generic.rstrip("/") + "/v1/traces"
    else:
        return None
    headers = dict(parse_env_headers(_traces_or_generic(environ, "HEADERS") or "", liberal=True))
    return ExportConfig(endpoint=endpoint, protocol=protocol, headers=headers)


def build_exporter(config: ExportConfig) -> SpanExporter:
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=config.endpoint, headers=config.headers or None)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=config.endpoint, headers=config.headers or None)


def build_processor(environ: Mapping[str, str]) -> SpanProcessor | None:
    """A BatchSpanProcessor for the configured exporter: it exports from its own thread,
    so finishing a span on the event loop is only a queue append."""
    config = export_config(environ)
    if config is None:
        return None
    return BatchSpanProcessor(build_exporter(config))


def build_resource(environ: Mapping[str, str]) -> Resource:
    # Resource.create also merges OTEL_RESOURCE_ATTRIBUTES and the SDK's own attributes.
    service = (environ.get("OTEL_SERVICE_NAME") or "").strip() or DEFAULT_SERVICE_NAME
    return Resource.create({SERVICE_NAME: service})


# -- the lifespan ------------------------------------------------------------------------


@dataclass
class Tracing:
    tracer: SessionTracer
    store: TracingStore

    @classmethod
    def create(
        cls,
        inner: EventStore,
        *,
        idle_timeout_s: float,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Tracing:
        # The OTEL_* variables belong to OpenTelemetry, not to Settings: every SDK and
        # collector reads them under these names, so replaydeck does too.
        env = os.environ if environ is None else environ
        config = export_config(env)
        if config is None:
            log.info("tracing: no OTEL_EXPORTER_OTLP_ENDPOINT set, spans are not exported")
        else:
            log.info("tracing: exporting spans to %s (%s)", config.endpoint, config.protocol)
        tracer = SessionTracer(
            build_processor(env),
            resource=build_resource(env),
            idle_timeout_s=idle_timeout_s,
            clock=clock,
        )
        return cls(tracer=tracer, store=TracingStore(inner, tracer))

    async def run_sweeper(self, *, interval_s: float | None = None) -> None:
        """End idle sessions' spans as abandoned, until cancelled."""
        interval = interval_s or max(0.5, min(30.0, self.tracer.idle_timeout_s / 4))
        while True:
            await anyio.sleep(interval)
            for session_id in await self.store.sweep():
                log.info("tracing: session %s idle, its open spans end as abandoned", session_id)

    async def shutdown(self) -> None:
        # force_flush waits on the exporter thread; keep that wait off the event loop.
        await anyio.to_thread.run_sync(self.tracer.shutdown)
