"""Replay frames from a real store, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import orjson
import pytest

from replaydeck.events import validate_event
from replaydeck.live.hub import Hub
from replaydeck.replay.stream import ReplayParams, replay_frames
from replaydeck.store.sql import SqlStore
from tests.sse_client import parse_frames

pytestmark = pytest.mark.anyio

T0 = 1_795_000_000_000  # epoch ms


class FakeClock:
    def __init__(self) -> None:
        self.time = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        self.sleeps.append(deadline)
        self.time = max(self.time, deadline)


async def record(store: SqlStore, *steps: tuple[int, str]) -> None:
    events = [
        validate_event(
            {"type": kind, "ts": T0 + offset, "data": {"label": kind} if kind == "status" else {}},
            max_bytes=1 << 20,
        )
        for offset, kind in steps
    ]
    await store.append("s", events)


async def play(
    store: SqlStore, clock: FakeClock, params: ReplayParams, heartbeat: float = 15.0
) -> list[tuple[float, dict[str, str]]]:
    """(clock time when yielded, frame) for every frame of the replay."""
    out = []
    async for chunk in replay_frames(
        store,
        Hub(),
        clock,
        "s",
        params,
        page_size=2,
        heartbeat_interval=heartbeat,
        final_seq=(await store.get_session("s")).final_seq,
    ):
        out.extend((clock.time, frame) for frame in parse_frames(chunk))
    return out


STEPS = ((0, "status"), (250, "status"), (1250, "custom.tick"), (1300, "final"))


async def test_each_event_is_sent_at_its_deadline_then_replay_end(store: SqlStore) -> None:
    await record(store, *STEPS)
    clock = FakeClock()
    frames = await play(store, clock, ReplayParams(speed=1))
    assert [(t - 1000.0, f.get("id")) for t, f in frames] == [
        (0.0, "1"),
        (0.25, "2"),
        (1.25, "3"),
        (pytest.approx(1.3), "4"),
        (pytest.approx(1.3), None),
    ]
    assert frames[-1][1]["event"] == "replay.end"
    assert orjson.loads(frames[-1][1]["data"]) == {"reason": "complete", "count": 4}
    assert clock.sleeps == [1000.25, 1001.25, pytest.approx(1001.3)]


async def test_speed_and_type_filter_keep_deadlines(store: SqlStore) -> None:
    await record(store, *STEPS)
    clock = FakeClock()
    frames = await play(
        store, clock, ReplayParams(speed=10, types=frozenset({"custom.tick", "final"}))
    )
    assert [(round(t - 1000.0, 6), f.get("id")) for t, f in frames] == [
        (0.125, "3"),
        (0.13, "4"),
        (0.13, None),
    ]
    assert orjson.loads(frames[-1][1]["data"])["count"] == 2


async def test_range_ends_with_range_end(store: SqlStore) -> None:
    await record(store, *STEPS)
    frames = await play(store, FakeClock(), ReplayParams(speed=None, from_seq=2, to_seq=3))
    assert [f.get("id") for _, f in frames] == ["2", "3", None]
    assert orjson.loads(frames[-1][1]["data"]) == {"reason": "range_end", "count": 2}


async def test_max_speed_never_sleeps(store: SqlStore) -> None:
    await record(store, *STEPS)
    clock = FakeClock()
    frames = await play(store, clock, ReplayParams(speed=None))
    assert len(frames) == 5
    assert clock.sleeps == []


async def test_long_gaps_send_heartbeats_or_are_capped(store: SqlStore) -> None:
    await record(store, (0, "status"), (40_000, "final"))
    frames = await play(store, FakeClock(), ReplayParams(speed=1), heartbeat=15.0)
    assert [f.get("") for _, f in frames].count("keep-alive") == 2
    capped = await play(store, FakeClock(), ReplayParams(speed=1, max_gap_ms=500))
    assert [round(t - 1000.0, 6) for t, f in capped if f.get("id")] == [0.0, 0.5]


async def test_starting_past_the_end_of_a_finished_session(store: SqlStore) -> None:
    await record(store, *STEPS)
    frames = await play(store, FakeClock(), ReplayParams(speed=1, from_seq=9))
    assert [f["event"] for _, f in frames] == ["replay.end"]


async def test_a_database_outage_is_bridged_with_keep_alives(store: SqlStore) -> None:
    from replaydeck.errors import StoreUnavailable

    await record(store, *STEPS)
    failures = iter([True, True, False, False, False, False])
    real_read = store.read_rows

    async def flaky_read(  # type: ignore[no-untyped-def]
        session_id: str, *, after: int = 0, limit: int | None = None, max_bytes: int | None = None
    ):
        if next(failures, False):
            raise StoreUnavailable()
        return list(await real_read(session_id, after=after, limit=limit, max_bytes=max_bytes))

    store.read_rows = flaky_read  # type: ignore[method-assign]
    clock = FakeClock()
    frames = await play(store, clock, ReplayParams(speed=None))
    assert [f.get("") for _, f in frames[:2]] == ["keep-alive", "keep-alive"]
    assert [f.get("id") for _, f in frames[2:-1]] == ["1", "2", "3", "4"]
    assert frames[-1][1]["event"] == "replay.end"


async def test_max_speed_reads_several_pages_and_stops_inside_one(store: SqlStore) -> None:
    await record(store, *((i * 10, "status" if i % 2 else "custom.tick") for i in range(10)))
    out = []
    async for chunk in replay_frames(
        store,
        Hub(),
        FakeClock(),
        "s",
        ReplayParams(speed=None, from_seq=2, to_seq=8, types=frozenset({"status"})),
        page_size=1,
        heartbeat_interval=15.0,
        catchup_pages=3,
    ):
        out.extend(parse_frames(chunk))
    assert [f.get("id") for f in out] == ["2", "4", "6", "8", None]
    assert orjson.loads(out[-1]["data"]) == {"reason": "range_end", "count": 4}
