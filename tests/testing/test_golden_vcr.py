"""fake_stream(): a recorded session as the SSE upstream of the code under test."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from replaydeck.testing import fake_stream, serve_fake_stream
from replaydeck.testing.sources import SourceError
from replaydeck.testing.vcr import serve
from tests.servers import RunningServer


class FakeClock:
    def __init__(self) -> None:
        self.time = 0.0
        self.deadlines: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        self.deadlines.append(deadline)
        self.time = max(self.time, deadline)


def read_events(url: str, headers: dict[str, str] | None = None) -> list[Any]:
    """The stream's events; `retry:` rides in the first event's block, checked here."""
    with (
        httpx.Client(timeout=10) as client,
        connect_sse(client, "GET", url, headers=headers or {}) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = list(source.iter_sse())
    assert [e.retry for e in events[:1]] in ([], [3000])
    assert all(e.retry is None for e in events[1:])
    return events


def test_serves_the_recording_as_sse_on_any_path(agent_turn: list[dict[str, Any]]) -> None:
    with serve_fake_stream(agent_turn, speed="max") as url:
        events = read_events(f"{url}/v1/chat/completions")
    assert [(e.id, e.event) for e in events] == [(str(a["seq"]), a["type"]) for a in agent_turn]
    assert [json.loads(e.data) for e in events] == agent_turn


def test_a_post_gets_the_stream_too(agent_turn: list[dict[str, Any]]) -> None:
    with serve_fake_stream(agent_turn, speed="max") as url, httpx.Client(timeout=10) as client:
        response = client.post(f"{url}/api/chat", json={"message": "hi"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [f"id: {e['seq']}\n" in response.text for e in agent_turn] == [True] * len(agent_turn)


def test_last_event_id_resumes_after_that_seq(agent_turn: list[dict[str, Any]]) -> None:
    with serve_fake_stream(agent_turn, speed="max") as url:
        events = read_events(url, headers={"Last-Event-ID": "5"})
    assert [e.id for e in events] == ["6", "7"]


def test_recorded_timing_with_keep_alives_through_long_pauses(
    agent_turn: list[dict[str, Any]],
) -> None:
    clock = FakeClock()
    app = fake_stream(agent_turn, speed=1, heartbeat_interval=0.3, clock=clock)
    with serve(app) as url, httpx.Client(timeout=10) as client:
        body = client.get(url).text
    # seq 2 → 3 is a 1 s pause: three keep-alives at 0.3 s, then the event. Each is a
    # comment line with no blank line after it, so strict clients dispatch no empty event.
    between = body.split("id: 2\n", 1)[1].split("id: 3\n", 1)[0]
    assert between.count(": keep-alive\n") == 3
    assert ": keep-alive\n\n" not in body
    assert body.startswith("retry: 3000\nid: 1\n")
    assert {e["offset_ms"] / 1000 for e in agent_turn} <= set(clock.deadlines)


def test_accelerated_timing_divides_the_offsets(agent_turn: list[dict[str, Any]]) -> None:
    clock = FakeClock()
    app = fake_stream(agent_turn, speed=4, heartbeat_interval=60, clock=clock)
    with serve(app) as url, httpx.Client(timeout=10) as client:
        client.get(url).raise_for_status()
    assert clock.deadlines == pytest.approx([e["offset_ms"] / 1000 / 4 for e in agent_turn])


def test_a_session_on_a_server_can_be_the_recording(
    server: RunningServer, agent_turn: list[dict[str, Any]]
) -> None:
    sent = [{k: e[k] for k in ("type", "id", "ts", "data")} for e in agent_turn]
    with httpx.Client(base_url=server.url) as client:
        client.post("/v1/sessions/s1/events", json=sent).raise_for_status()
        stored = client.get("/v1/sessions/s1/events").json()["events"]
    with serve_fake_stream(f"{server.url}/v1/sessions/s1", speed="max") as url:
        assert [json.loads(e.data) for e in read_events(url)] == stored
        # loaded once, on the first request; a second client gets the same stream
        assert [json.loads(e.data) for e in read_events(url)] == stored


def test_a_missing_recording_fails_when_the_fake_is_built(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a file"):
        fake_stream(tmp_path / "missing.ndjson")
