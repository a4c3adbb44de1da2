"""GET /metrics: Prometheus text from a registry per app."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from replaydeck.web.metrics import Metrics
from tests.servers import RunningServer, wait_until


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.anyio
async def test_appends_are_counted_and_timed(client: httpx.AsyncClient) -> None:
    events = [{"type": "status", "data": {"label": str(i)}} for i in range(3)]
    assert (await client.post("/v1/sessions/s/events", json=events)).status_code == 200
    # A repeat of a known id stores nothing and counts nothing.
    repeat = [{"type": "status", "id": "same", "data": {"label": "x"}}]
    await client.post("/v1/sessions/s/events", json=repeat)
    await client.post("/v1/sessions/s/events", json=repeat)
    await client.post("/v1/sessions/s/events", json={"type": "final", "data": {}})
    refused = await client.post("/v1/sessions/s/events", json=events[0])
    assert refused.status_code == 409

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    values = samples(response.text)
    assert values[("replaydeck_events_appended_total", ())] == 5
    assert values[("replaydeck_append_duration_seconds_count", ())] == 4
    assert values[("replaydeck_append_failures_total", (("reason", "session-closed"),))] == 1
    assert values[("replaydeck_active_streams", (("kind", "tail"),))] == 0
    assert values[("replaydeck_db_pool_checked_out", ())] == 0


@pytest.mark.anyio
async def test_each_app_has_its_own_registry(client: httpx.AsyncClient, settings: Settings) -> None:
    await client.post("/v1/sessions/s/events", json={"type": "status", "data": {"label": "a"}})
    other = create_app(settings.model_copy())
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as c:
            values = samples((await c.get("/metrics")).text)
    assert values[("replaydeck_events_appended_total", ())] == 0


def test_open_tails_are_active_streams(server: RunningServer) -> None:
    def active_tails(c: httpx.Client) -> float:
        values = samples(c.get("/metrics").text)
        return values[("replaydeck_active_streams", (("kind", "tail"),))]

    with httpx.Client(base_url=server.url, timeout=10) as c:
        c.post("/v1/sessions/s/events", json={"type": "status", "data": {"label": "a"}})
        with c.stream("GET", "/v1/sessions/s/stream"):
            wait_until(lambda: active_tails(c) == 1)
        wait_until(lambda: active_tails(c) == 0)


class FakeClock:
    def __init__(self, oversleep: float) -> None:
        self.time = 100.0
        self.oversleep = oversleep

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        self.time = max(self.time, deadline) + self.oversleep


@pytest.mark.anyio
async def test_the_metered_clock_records_how_late_timers_wake() -> None:
    metrics = Metrics()
    clock = metrics.metered_clock(FakeClock(oversleep=0.004))
    await clock.sleep_until(100.5)
    await clock.sleep_until(101.0)
    values = samples(metrics.render().decode())
    assert values[("replaydeck_replay_lateness_seconds_count", ())] == 2
    assert values[("replaydeck_replay_lateness_seconds_sum", ())] == pytest.approx(0.008)
    assert values[("replaydeck_replay_lateness_seconds_bucket", (("le", "0.005"),))] == 2
    assert values[("replaydeck_replay_lateness_seconds_bucket", (("le", "0.002"),))] == 0


def test_the_app_factory_does_not_touch_the_global_registry(app: FastAPI) -> None:
    from prometheus_client import REGISTRY

    names = {family.name for family in REGISTRY.collect()}
    assert not any(name.startswith("replaydeck_") for name in names)
