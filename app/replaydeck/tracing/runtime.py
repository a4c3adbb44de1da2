"""Tracing for the app's lifespan: exporter, tracer, idle sweeper, store wrapper."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio

from replaydeck.store.base import EventStore
from replaydeck.tracing.provider import build_processor, build_resource, export_config
from replaydeck.tracing.store import TracingStore
from replaydeck.tracing.tracer import SessionTracer

log = logging.getLogger("replaydeck.tracing")


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
