"""Replay through a real uvicorn: real-time accuracy, live follow, errors, cleanup."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse

from tests.servers import RunningServer, wait_until
from tests.sse_client import dispatched

pytestmark = pytest.mark.anyio

T0 = 1_795_000_000_000


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def at(offset_ms: float, kind: str = "status") -> dict[str, object]:
    data: dict[str, object] = {"label": f"t{offset_ms}"} if kind == "status" else {}
    return {"type": kind, "ts": T0 + offset_ms, "data": data}


async def test_speed_1_keeps_the_recorded_rhythm_and_never_runs_ahead(
    http: httpx.AsyncClient,
) -> None:
    # How late events are is measured by scripts/bench/replay_timing.py, not asserted
    # here: on a shared machine a test can only hold what cannot depend on load.
    offsets = [0, 40, 90, 200, 210, 420, 600]
    response = await http.post(
        "/v1/sessions/s/events", json=[at(o) for o in offsets] + [at(700, "final")]
    )
    assert response.status_code == 200
    arrivals: list[tuple[float, dict[str, object]]] = []
    with anyio.fail_after(10):
        started = time.perf_counter()
        async with aconnect_sse(http, "GET", "/v1/sessions/s/replay?speed=1") as source:
            async for sse in dispatched(source):
                arrivals.append((time.perf_counter(), orjson.loads(sse.data)))
    envelopes = [envelope for _, envelope in arrivals[:-1]]
    assert [e["offset_ms"] for e in envelopes] == [*offsets, 700]
    # Each event is sent no earlier than its offset after the replay began.
    for arrived, envelope in arrivals[:-1]:
        assert (arrived - started) * 1000 >= envelope["offset_ms"], arrivals  # type: ignore[operator]
    assert arrivals[-1][1] == {"reason": "complete", "count": 8}


async def test_replay_of_a_live_session_follows_it_to_final(http: httpx.AsyncClient) -> None:
    await http.post("/v1/sessions/s/events", json=[at(0)])
    ids: list[str] = []
    with anyio.fail_after(10):
        async with aconnect_sse(http, "GET", "/v1/sessions/s/replay?speed=max") as source:
            async for sse in dispatched(source):
                ids.append(sse.event if sse.event == "replay.end" else sse.id)
                if sse.id == "1":
                    await http.post("/v1/sessions/s/events", json=[at(10), at(20, "final")])
    assert ids == ["1", "2", "3", "replay.end"]


async def test_reconnect_after_the_end_gets_204(http: httpx.AsyncClient) -> None:
    await http.post("/v1/sessions/s/events", json=[at(0), at(1, "final")])
    response = await http.get("/v1/sessions/s/replay", headers={"Last-Event-ID": "2"})
    assert response.status_code == 204
    resumed = await http.get("/v1/sessions/s/replay?speed=max", headers={"Last-Event-ID": "1"})
    assert b"id: 2\n" in resumed.content
    assert b"id: 1\n" not in resumed.content


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("speed=0", "positive number"),
        ("speed=-2", "positive number"),
        ("speed=fast", "positive number"),
        ("speed=inf", "positive number"),
        ("speed=1e-320", "from 0.001 to 1000000"),
        ("speed=0.0009", "from 0.001 to 1000000"),
        ("speed=1e7", "from 0.001 to 1000000"),
        ("from=0", "from"),
        ("from=5&to=2", "from ≤ to"),
        ("types=,", "types"),
        ("max_gap_ms=-1", "max_gap_ms"),
    ],
)
async def test_bad_parameters_are_422_problems(
    http: httpx.AsyncClient, query: str, needle: str
) -> None:
    await http.post("/v1/sessions/s/events", json=[at(0)])
    response = await http.get(f"/v1/sessions/s/replay?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert needle in response.json()["detail"]


async def test_disconnect_during_a_wait_stops_the_replay(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    await http.post("/v1/sessions/s/events", json=[at(0), at(60_000)])
    streams = server.app.state.streams
    with anyio.fail_after(10):
        async with aconnect_sse(http, "GET", "/v1/sessions/s/replay?speed=1") as source:
            await anext(dispatched(source))
            assert streams.total() == 1
    wait_until(lambda: streams.total() == 0, timeout=1.0)
