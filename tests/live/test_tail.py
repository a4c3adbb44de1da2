"""The live tail through a real uvicorn: latency, resume, 204, heartbeats, cleanup."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator

import anyio
import httpx
import orjson
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve, wait_until
from tests.sse_client import dispatched

pytestmark = pytest.mark.anyio


async def append(client: httpx.AsyncClient, session: str, *events: dict[str, object]) -> None:
    response = await client.post(f"/v1/sessions/{session}/events", json=list(events))
    assert response.status_code == 200, response.text


def status(label: str, **extra: object) -> dict[str, object]:
    return {"type": "status", "data": {"label": label}, **extra}


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def test_catch_up_then_follow_until_final(http: httpx.AsyncClient) -> None:
    await append(http, "s", status("one"), status("two"))
    received: list[ServerSentEvent] = []
    with anyio.fail_after(10):
        async with aconnect_sse(http, "GET", "/v1/sessions/s/stream") as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            assert source.response.headers["cache-control"] == "no-cache"
            assert source.response.headers["x-accel-buffering"] == "no"
            frames = source.aiter_sse()
            assert (await anext(frames)).retry == 3000
            async for sse in frames:
                received.append(sse)
                if sse.id == "2":
                    await append(http, "s", status("three"), {"type": "final"})
    assert [sse.id for sse in received] == ["1", "2", "3", "4"]
    assert [sse.event for sse in received] == ["status", "status", "status", "final"]
    assert orjson.loads(received[2].data)["data"] == {"label": "three"}


async def test_each_appended_event_arrives_within_50_ms(http: httpx.AsyncClient) -> None:
    await append(http, "s", status("start"))
    latencies: list[float] = []
    with anyio.fail_after(20):
        async with aconnect_sse(http, "GET", "/v1/sessions/s/stream?after=1") as source:
            events = dispatched(source)
            for index in range(20):
                sent = time.perf_counter()
                await append(http, "s", status(f"e{index}"))
                sse = await anext(events)
                latencies.append(time.perf_counter() - sent)
                assert sse.id == str(index + 2)
    # The append's own round trip is included, so this bounds delivery from above.
    assert statistics.median(latencies) < 0.050, latencies
    assert max(latencies) < 0.250, latencies


async def test_last_event_id_resumes_exactly_after_it(http: httpx.AsyncClient) -> None:
    await append(http, "s", *(status(str(i)) for i in range(5)), {"type": "final"})
    with anyio.fail_after(10):
        async with aconnect_sse(
            http, "GET", "/v1/sessions/s/stream", headers={"Last-Event-ID": "2"}
        ) as source:
            ids = [sse.id async for sse in dispatched(source)]
    assert ids == ["3", "4", "5", "6"]


async def test_reconnect_to_an_ended_session_gets_204(http: httpx.AsyncClient) -> None:
    await append(http, "s", status("a"), {"type": "final"})
    response = await http.get("/v1/sessions/s/stream", headers={"Last-Event-ID": "2"})
    assert response.status_code == 204
    assert (await http.get("/v1/sessions/s/stream?after=2")).status_code == 204


async def test_unknown_session_is_a_404_problem(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/sessions/nope/stream")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "nope" in response.json()["detail"]


async def test_bad_last_event_id_is_a_422_problem(http: httpx.AsyncClient) -> None:
    await append(http, "s", status("a"))
    response = await http.get("/v1/sessions/s/stream", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 422
    assert "Last-Event-ID" in response.json()["detail"]


async def test_disconnect_stops_server_work_within_a_second(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    await append(http, "s", status("a"))
    streams = server.app.state.streams
    hub = server.app.state.hub
    with anyio.fail_after(10):
        async with aconnect_sse(http, "GET", "/v1/sessions/s/stream") as source:
            await anext(dispatched(source))
            assert streams.total() == 1
            assert hub.subscriber_count == 1
    # The client closed its connection while the server waited on the hub.
    wait_until(lambda: streams.total() == 0 and hub.subscriber_count == 0, timeout=1.0)


async def test_deleting_a_session_ends_its_tails(http: httpx.AsyncClient) -> None:
    await append(http, "s", status("a"))
    with anyio.fail_after(10):
        async with aconnect_sse(http, "GET", "/v1/sessions/s/stream") as source:
            events = dispatched(source)
            assert (await anext(events)).id == "1"
            assert (await http.delete("/v1/sessions/s")).status_code == 204
            assert [sse async for sse in events] == []


async def test_idle_tail_gets_heartbeat_comments(tmp_path: object) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/hb.db", heartbeat_interval=0.1
    )
    with serve(create_app(settings)) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            await append(http, "s", status("a"))
            body = b""
            with anyio.fail_after(10):
                async with http.stream("GET", "/v1/sessions/s/stream?after=1") as response:
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if body.count(b": keep-alive\n\n") >= 2:
                            break
    assert body.startswith(b"retry: 3000\n\n")
    assert b"data:" not in body
