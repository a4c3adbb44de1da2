"""replay(): export archives, golden files and live servers as deterministic input."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from replaydeck.testing import archive, golden, normalize, replay
from replaydeck.testing.sources import Remote, SourceError
from tests.servers import RunningServer

pytestmark = pytest.mark.anyio


class FakeClock:
    """Virtual time: sleeping moves the clock; the test records every deadline."""

    def __init__(self) -> None:
        self.time = 100.0
        self.deadlines: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        self.deadlines.append(deadline)
        self.time = max(self.time, deadline)


@pytest.fixture
def export_file(tmp_path: Path, agent_turn: list[dict[str, Any]]) -> Path:
    path = tmp_path / "turn.ndjson"
    with path.open("wb") as out:
        archive.write(out, {"id": "turn", "metadata": {}}, agent_turn)
    return path


async def test_export_archive_replays_every_envelope_in_order(
    export_file: Path, agent_turn: list[dict[str, Any]]
) -> None:
    assert [event async for event in replay(export_file)] == agent_turn


async def test_speed_sets_absolute_deadlines_from_the_recorded_offsets(
    export_file: Path, agent_turn: list[dict[str, Any]]
) -> None:
    clock = FakeClock()
    played = [event async for event in replay(export_file, speed=10, clock=clock)]
    assert played == agent_turn
    offsets = [e["offset_ms"] for e in agent_turn]
    assert clock.deadlines == pytest.approx([100.0 + ms / 1000 / 10 for ms in offsets])


async def test_max_gap_caps_a_long_pause(export_file: Path) -> None:
    clock = FakeClock()
    _ = [event async for event in replay(export_file, speed=1, max_gap_ms=100, clock=clock)]
    gaps = [b - a for a, b in zip(clock.deadlines, clock.deadlines[1:], strict=False)]
    assert max(gaps) == pytest.approx(0.1)


async def test_a_golden_file_replays_as_its_normal_form(
    tmp_path: Path, agent_turn: list[dict[str, Any]]
) -> None:
    path = tmp_path / "turn.jsonl"
    # With a header, which replays as nothing: it records how the file was made.
    golden.write(path, normalize(agent_turn), {"mask_paths": {"data.x": "<masked>"}})
    assert golden.read_all(path)[0]["format"] == "replaydeck.golden"
    played = [event async for event in replay(path)]
    assert [e["seq"] for e in played] == list(range(1, 6))
    assert played[3]["type"] == "message.delta"
    assert played[3]["data"]["text"] == "Server-Sent Events are one-way."
    assert normalize(played) == golden.read(path)


async def test_two_messages_in_a_row_stay_two_after_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    entries = [
        {"type": "message", "data": {"text": "a"}},
        {"type": "message", "data": {"text": "b"}},
    ]
    golden.write(path, entries)
    assert normalize([event async for event in replay(path)]) == entries


@pytest.mark.parametrize("speed", [0, -1, "fast", float("inf")])
async def test_a_bad_speed_says_what_is_allowed(export_file: Path, speed: Any) -> None:
    with pytest.raises(ValueError, match="positive number"):
        _ = [event async for event in replay(export_file, speed=speed)]


async def test_a_session_on_a_server_replays_what_the_server_stores(
    server: RunningServer, agent_turn: list[dict[str, Any]]
) -> None:
    sent = [
        {"type": e["type"], "id": e["id"], "ts": e["ts"], "data": e["data"]} for e in agent_turn
    ]
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post("/v1/sessions/s1/events", json=sent)
        assert response.status_code == 200, response.text
        stored = (await client.get("/v1/sessions/s1/events")).json()["events"]
    played = [event async for event in replay(f"{server.url}/v1/sessions/s1")]
    assert played == stored
    assert [e["offset_ms"] for e in played] == [e["offset_ms"] for e in agent_turn]


async def test_a_share_link_replays_the_shared_session(
    server: RunningServer, agent_turn: list[dict[str, Any]]
) -> None:
    sent = [{k: e[k] for k in ("type", "id", "ts", "data")} for e in agent_turn]
    async with httpx.AsyncClient(base_url=server.url) as client:
        (await client.post("/v1/sessions/s1/events", json=sent)).raise_for_status()
        share = (await client.post("/v1/sessions/s1/shares", json={})).json()
        stored = (await client.get("/v1/sessions/s1/events")).json()["events"]
    assert share["url"].startswith(f"{server.url}/r/")
    assert [event async for event in replay(share["url"])] == stored


async def test_an_unknown_session_says_what_the_server_answered(server: RunningServer) -> None:
    with pytest.raises(SourceError, match="answered 404"):
        _ = [event async for event in replay(f"{server.url}/v1/sessions/nope")]


async def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a file"):
        _ = [event async for event in replay(tmp_path / "missing.ndjson")]


@pytest.mark.parametrize(
    ("url", "session", "events"),
    [
        (
            "http://h:1/v1/sessions/s1/replay?speed=2",
            "http://h:1/v1/sessions/s1",
            "http://h:1/v1/sessions/s1/events",
        ),
        (
            "https://h/base/r/tok.en",
            "https://h/base/r/tok.en/session",
            "https://h/base/r/tok.en/events",
        ),
        ("http://h/sessions/s1", "http://h/v1/sessions/s1", "http://h/v1/sessions/s1/events"),
    ],
)
def test_session_share_and_viewer_links_map_to_their_api(
    url: str, session: str, events: str
) -> None:
    remote = Remote.parse(url)
    assert (remote.session_url, remote.events_url) == (session, events)


def test_other_urls_are_refused_with_the_accepted_forms() -> None:
    with pytest.raises(SourceError, match=r"use http://host/v1/sessions/ID"):
        Remote.parse("http://h/healthz")
