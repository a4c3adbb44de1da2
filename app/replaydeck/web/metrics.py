"""Prometheus metrics on a registry per app, and GET /metrics.

Each app gets its own CollectorRegistry instead of prometheus_client's global
one: tests build many apps in one process, and a global registry would refuse
the second app's metric names. Counters and histograms are updated where the
work happens; gauges that are already state somewhere (open streams, the
database pool, hub subscribers) are read at scrape time by a collector, so
they can never drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool
from starlette.responses import Response

from replaydeck.live.hub import Hub
from replaydeck.replay.clock import Clock
from replaydeck.sse import StreamCounter

# Appends commit in about a millisecond on a local disk and in tens of
# milliseconds on a busy networked database; the buckets span both.
_APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# How late a replay timer fires, and how long a NOTIFY takes to reach another
# replica: both should be a few milliseconds; the tail is what matters.
_LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_appended = Counter(
            "replaydeck_events_appended",
            "Events stored (repeats of a known id are not counted).",
            registry=self.registry,
        )
        self.append_seconds = Histogram(
            "replaydeck_append_duration_seconds",
            "Time to append one request's events, including the commit.",
            buckets=_APPEND_BUCKETS,
            registry=self.registry,
        )
        self.append_failures = Counter(
            "replaydeck_append_failures",
            "Appends refused, by problem slug (store-unavailable, session-closed, ...).",
            ["reason"],
            registry=self.registry,
        )
        self.replay_lateness = Histogram(
            "replaydeck_replay_lateness_seconds",
            "How late a replay timer woke after the time an event was due.",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.notify_lag = Histogram(
            "replaydeck_notify_lag_seconds",
            "From an append's NOTIFY to this replica's listener receiving it (PostgreSQL).",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.notify_reconnects = Counter(
            "replaydeck_notify_reconnects",
            "Times the LISTEN connection to PostgreSQL was re-established.",
            registry=self.registry,
        )
        self._state: _StateCollector | None = None

    def appended(self, count: int, seconds: float) -> None:
        self.events_appended.inc(count)
        self.append_seconds.observe(seconds)

    def append_failed(self, slug: str) -> None:
        self.append_failures.labels(slug).inc()

    def track_state(
        self,
        *,
        streams: StreamCounter,
        hub: Hub,
        pool: object | None = None,
        listening: Callable[[], bool] | None = None,
        traced: Callable[[], int] | None = None,
    ) -> None:
        """Expose live state as gauges read at scrape time (once per lifespan)."""
        if self._state is not None:
            self.registry.unregister(self._state)
        self._state = _StateCollector(streams, hub, pool, listening, traced)
        self.registry.register(self._state)

    def metered_clock(self, clock: Clock) -> Clock:
        return _MeteredClock(clock, self.replay_lateness)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(
        self,
        streams: StreamCounter,
        hub: Hub,
        pool: object | None,
        listening: Callable[[], bool] | None,
        traced: Callable[[], int] | None = None,
    ) -> None:
        self._streams = streams
        self._hub = hub
        self._pool = pool
        self._listening = listening
        self._traced = traced

    def describe(self) -> list[Metric]:
        # Names are fixed; describing without collecting keeps registration
        # from reading state before the app has started.
        return []

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "replaydeck_active_streams",
            "Open streams by kind (tail, replay, ndjson).",
            labels=["kind"],
        )
        for kind in ("tail", "replay", *sorted(set(self._streams.active) - {"tail", "replay"})):
            active.add_metric([kind], self._streams.active.get(kind, 0))
        yield active
        yield GaugeMetricFamily(
            "replaydeck_hub_subscribers",
            "Streams waiting on the hub for new events.",
            value=self._hub.subscriber_count,
        )
        if isinstance(self._pool, QueuePool):
            pool = self._pool
            yield GaugeMetricFamily(
                "replaydeck_db_pool_size", "Connections the pool keeps.", value=pool.size()
            )
            yield GaugeMetricFamily(
                "replaydeck_db_pool_checked_out",
                "Connections in use by requests right now.",
                value=pool.checkedout(),
            )
            yield GaugeMetricFamily(
                "replaydeck_db_pool_overflow",
                "Connections open beyond the pool size (negative: not yet opened).",
                value=pool.overflow(),
            )
        if self._listening is not None:
            yield GaugeMetricFamily(
                "replaydeck_notify_listening",
                "1 while the LISTEN connection to PostgreSQL is up.",
                value=1 if self._listening() else 0,
            )
        if self._traced is not None:
            yield GaugeMetricFamily(
                "replaydeck_traced_sessions",
                "Sessions whose open spans this process holds (until final, or idle).",
                value=self._traced(),
            )


class _MeteredClock:
    """A clock that records how late each wake-up is; replay code is unchanged."""

    def __init__(self, inner: Clock, lateness: Histogram) -> None:
        self._inner = inner
        self._lateness = lateness

    def now(self) -> float:
        return self._inner.now()

    async def sleep_until(self, deadline: float) -> None:
        await self._inner.sleep_until(deadline)
        self._lateness.observe(max(0.0, self._inner.now() - deadline))


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
