"""Through a real nginx with its default proxy_buffering on.

- The first event reaches a client through nginx within 100 ms of its append,
  and replaydeck sends X-Accel-Buffering: no. (Measured: nginx 1.22 also
  forwards promptly when told to ignore that header, so the header is a
  safeguard for other proxies and settings, not what this test proves.)
- An idle tail outlives nginx's proxy_read_timeout because heartbeats reset
  it; a control run with heartbeats slower than the timeout shows nginx does
  cut it. CI shrinks the timings (timeout 2 s, heartbeat 0.5 s, idle 3 s);
  REPLAYDECK_SOAK=1 uses the real ones (timeout 60 s, heartbeat 15 s, idle 90 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import orjson
import pytest

from replaydeck.config import Settings
from replaydeck.formats.sse import SSEParser
from replaydeck.web.app import create_app
from tests.reliability.nginx import nginx_proxy
from tests.reliability.soak import SOAK, seconds, size
from tests.servers import RunningServer, serve

READ_TIMEOUT = seconds(2.0, 60.0)
HEARTBEAT = seconds(0.5, 15.0)
IDLE = seconds(3.0, 90.0)
EVENTS = size(20, 200)
FIRST_EVENT_BOUND = 0.100

pytestmark = pytest.mark.anyio


@dataclass
class Tail:
    """A client following a stream; frames arrive with their arrival time."""

    arrivals: dict[int, float] = field(default_factory=dict)
    ended_at: float | None = None
    changed: anyio.Event = field(default_factory=anyio.Event)

    async def follow(self, client: httpx.AsyncClient, path: str, started: anyio.Event) -> None:
        parser = SSEParser()
        async with client.stream("GET", path) as response:
            assert response.status_code == 200
            started.set()
            try:
                async for chunk in response.aiter_raw():
                    now = time.monotonic()
                    for frame in parser.feed(chunk):
                        self.arrivals[orjson.loads(frame.data)["seq"]] = now
                    self.changed.set()
                    self.changed = anyio.Event()
            except httpx.RemoteProtocolError:
                pass  # nginx cut the response mid-stream (its read timeout)
        self.ended_at = time.monotonic()
        self.changed.set()

    async def wait_for(self, seq: int) -> float | None:
        """Arrival time of `seq`, or None if the stream ended first."""
        while seq not in self.arrivals:
            if self.ended_at is not None:
                return None
            await self.changed.wait()
        return self.arrivals[seq]


def upstream(tmp_path: Path, heartbeat: float) -> Iterator[RunningServer]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/nginx.db", heartbeat_interval=heartbeat
    )
    with serve(create_app(settings)) as running:
        yield running


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[RunningServer]:
    yield from upstream(tmp_path, HEARTBEAT)


async def latencies_through(proxy: str, direct: str, count: int) -> list[float | None]:
    """Append `count` events one by one; how long each took to come out of the proxy."""
    tail = Tail()
    results: list[float | None] = []
    async with (
        httpx.AsyncClient(base_url=direct, timeout=30) as writer,
        httpx.AsyncClient(base_url=proxy, timeout=30) as reader,
    ):
        await writer.post("/v1/sessions/px/events", json={"type": "status", "data": {"label": "0"}})
        async with anyio.create_task_group() as group:
            started = anyio.Event()
            group.start_soon(tail.follow, reader, "/v1/sessions/px/stream", started)
            await started.wait()
            await tail.wait_for(1)
            for n in range(count):
                appended = time.monotonic()
                response = await writer.post(
                    "/v1/sessions/px/events", json={"type": "status", "data": {"label": str(n)}}
                )
                seq = response.json()["last_seq"]
                with anyio.move_on_after(1.0):
                    arrived = await tail.wait_for(seq)
                    results.append(None if arrived is None else arrived - appended)
                    continue
                results.append(None)
                break
            group.cancel_scope.cancel()
    return results


async def test_events_pass_nginx_buffering_at_once(backend: RunningServer, tmp_path: Path) -> None:
    with nginx_proxy(backend.port, tmp_path / "nginx", read_timeout=READ_TIMEOUT) as proxy:
        latencies = await latencies_through(proxy, backend.url, EVENTS)
    assert None not in latencies, latencies
    measured = sorted(t for t in latencies if t is not None)
    # The bound: within 100 ms of its append (measured from before the POST).
    assert measured[0] < FIRST_EVENT_BOUND
    assert latencies[0] is not None
    assert latencies[0] < FIRST_EVENT_BOUND
    assert measured[-1] < FIRST_EVENT_BOUND, measured
    print(
        f"\n[nginx] {EVENTS} events through nginx (proxy_buffering on): append-to-client "
        f"median {measured[len(measured) // 2] * 1000:.1f} ms, max {measured[-1] * 1000:.1f} ms"
    )


async def idle_tail(proxy: str, direct: str) -> tuple[bool, float | None]:
    """Follow an idle session for IDLE seconds, then append: did the event arrive?"""
    tail = Tail()
    async with (
        httpx.AsyncClient(base_url=direct, timeout=30) as writer,
        httpx.AsyncClient(base_url=proxy, timeout=IDLE * 4) as reader,
    ):
        await writer.post(
            "/v1/sessions/idle/events", json={"type": "status", "data": {"label": "a"}}
        )
        async with anyio.create_task_group() as group:
            started = anyio.Event()
            group.start_soon(tail.follow, reader, "/v1/sessions/idle/stream", started)
            await started.wait()
            opened = time.monotonic()
            # The scenario itself is idleness: nothing to wait for but time.
            with anyio.move_on_after(IDLE):
                while tail.ended_at is None:
                    await tail.changed.wait()
            response = await writer.post(
                "/v1/sessions/idle/events", json={"type": "status", "data": {"label": "b"}}
            )
            with anyio.move_on_after(5):
                arrived = await tail.wait_for(response.json()["last_seq"])
            group.cancel_scope.cancel()
    ended = None if tail.ended_at is None else tail.ended_at - opened
    return arrived is not None, ended


async def test_idle_tail_outlives_proxy_read_timeout(
    backend: RunningServer, tmp_path: Path
) -> None:
    with nginx_proxy(backend.port, tmp_path / "nginx", read_timeout=READ_TIMEOUT) as proxy:
        delivered, ended = await idle_tail(proxy, backend.url)
    assert ended is None
    assert delivered
    print(
        f"\n[nginx] idle tail open {IDLE:g} s through proxy_read_timeout {READ_TIMEOUT:g} s "
        f"with heartbeats every {HEARTBEAT:g} s, then delivered the next event"
    )


@pytest.mark.skipif(SOAK, reason="the control only needs the short timings")
async def test_control_idle_tail_is_cut_without_heartbeats(tmp_path: Path) -> None:
    for slow_heartbeats in upstream(tmp_path, heartbeat=READ_TIMEOUT * 10):
        with nginx_proxy(slow_heartbeats.port, tmp_path / "nginx", read_timeout=READ_TIMEOUT) as p:
            delivered, ended = await idle_tail(p, slow_heartbeats.url)
    assert not delivered
    # nginx's own timer starts a moment before ours does.
    assert ended is not None
    assert READ_TIMEOUT * 0.9 <= ended < IDLE
