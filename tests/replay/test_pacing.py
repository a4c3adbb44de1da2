"""Replay pacing as a pure function."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from replaydeck.replay.pacing import Pacer, deadlines

MS = 1000  # µs per ms


def test_deadlines_follow_offsets_divided_by_speed() -> None:
    ts = [10_000 * MS, 10_250 * MS, 11_000 * MS]
    assert deadlines(ts, start=100.0, speed=1) == [100.0, 100.25, 101.0]
    assert deadlines(ts, start=100.0, speed=10) == [100.0, 100.025, 100.1]


def test_speed_none_sends_everything_at_once() -> None:
    assert deadlines([0, 5_000 * MS, 9_000 * MS], start=3.0, speed=None) == [3.0, 3.0, 3.0]


def test_max_gap_caps_each_wait() -> None:
    ts = [0, 100 * MS, 60_100 * MS, 60_200 * MS]
    assert deadlines(ts, start=0.0, speed=1, max_gap_ms=500) == [0.0, 0.1, 0.6, 0.7]


def test_timestamps_going_backwards_never_move_a_deadline_earlier() -> None:
    ts = [1_000 * MS, 2_000 * MS, 1_500 * MS, 2_500 * MS]
    assert deadlines(ts, start=0.0, speed=1) == [0.0, 1.0, 1.0, 1.5]


def test_deadlines_are_absolute_not_a_sum_of_sleeps() -> None:
    # The 1000th event is due exactly at its offset, however many came before.
    pacer = Pacer(start=50.0, speed=2)
    due = [pacer.due(i * 3 * MS) for i in range(1001)]
    assert due[-1] == 50.0 + 3.0 / 2


@given(
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=50),
    st.floats(min_value=0.01, max_value=1000),
    st.none() | st.floats(min_value=0, max_value=10**6),
)
def test_deadlines_never_decrease_and_start_at_start(
    ts: list[int], speed: float, max_gap_ms: float | None
) -> None:
    due = deadlines(ts, start=7.0, speed=speed, max_gap_ms=max_gap_ms)
    assert due[0] == 7.0
    assert all(b >= a for a, b in itertools.pairwise(due))
