"""Streams follow a session only while it is live: an abandoned one's streams end.

A session without `final` whose producer has gone (no append for
REPLAYDECK_TRACE_IDLE_TIMEOUT) is abandoned: its replay ends with `replay.end`
`{"reason": "incomplete"}`, its live tail closes, and reconnecting to either with
nothing left answers 204. Before, both followed it forever. Through a real uvicorn,
with a one-second timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve
from tests.sse_client import dispatched

pytestmark = pytest.mark.anyio

IDLE_TIMEOUT = 1.0


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/idle.db",
        trace_idle_timeout=IDLE_TIMEOUT,
        heartbeat_interval=0.2,
    )
    with serve(create_app(settings)) as server:
        yield server


@pytest.fixture
async def http(running: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        yield client


async def append(http: httpx.AsyncClient, *labels: str) -> None:
    events = [{"type": "status", "data": {"label": label}} for label in labels]
    response = await http.post("/v1/sessions/s/events", json=events)
    assert response.status_code == 200, response.text


async def read(
    http: httpx.AsyncClient, path: str, on_event: dict[str, list[str]] | None = None
) -> list[tuple[str, str]]:
    """Every dispatched frame as (event, data) until the server ends the stream;
    `on_event` maps a label to labels to append when it arrives (a live producer)."""
    frames: list[tuple[str, str]] = []
    async with aconnect_sse(http, "GET", path) as source:
        assert source.response.status_code == 200
        async for sse in dispatched(source):
            frames.append((sse.event, sse.data))
            if on_event and sse.event == "status":
                follow_up = on_event.get(sse.json()["data"]["label"])
                if follow_up:
                    await append(http, *follow_up)
    return frames


def labels(frames: list[tuple[str, str]]) -> list[str]:
    return [orjson.loads(data)["data"]["label"] for event, data in frames if event == "status"]


@pytest.mark.parametrize("speed", ["max", "1"])
async def test_a_replay_follows_while_live_then_ends_incomplete(
    http: httpx.AsyncClient, speed: str
) -> None:
    await append(http, "one", "two")
    with anyio.fail_after(15):
        # The producer answers each event it sees, twice, then goes away.
        frames = await read(
            http, f"/v1/sessions/s/replay?speed={speed}", {"two": ["three"], "three": ["four"]}
        )
    assert labels(frames) == ["one", "two", "three", "four"]
    event, data = frames[-1]
    assert event == "replay.end"
    assert orjson.loads(data) == {"reason": "incomplete", "count": 4}
    # Reconnecting after the end: nothing left of an abandoned session.
    resumed = await http.get("/v1/sessions/s/replay", headers={"Last-Event-ID": "4"})
    assert resumed.status_code == 204


async def test_a_replay_of_an_abandoned_session_ends_once_it_has_played_it(
    http: httpx.AsyncClient,
) -> None:
    await append(http, "one", "two")
    with anyio.fail_after(15):
        await read(http, "/v1/sessions/s/stream")  # until the session is abandoned
        # Abandoned already: played, and ended at once, without waiting again.
        frames = await read(http, "/v1/sessions/s/replay?speed=max")
    assert labels(frames) == ["one", "two"]
    assert orjson.loads(frames[-1][1]) == {"reason": "incomplete", "count": 2}


async def test_a_live_tail_closes_once_its_session_is_abandoned(http: httpx.AsyncClient) -> None:
    await append(http, "one")
    with anyio.fail_after(15):
        frames = await read(http, "/v1/sessions/s/stream", {"one": ["two"]})
        assert labels(frames) == ["one", "two"]
        # EventSource reconnects after a close; with nothing new it is told to stop.
        resumed = await http.get("/v1/sessions/s/stream", headers={"Last-Event-ID": "2"})
        assert resumed.status_code == 204
        # A new tail still gets what is stored, and ends right after.
        assert labels(await read(http, "/v1/sessions/s/stream")) == ["one", "two"]
        # A producer that comes back makes the session live again.
        await append(http, "three")
        frames = await read(http, "/v1/sessions/s/stream?after=2", {"three": ["four"]})
    assert labels(frames) == ["three", "four"]
