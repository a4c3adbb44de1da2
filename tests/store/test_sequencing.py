"""The store's rules as a pure function, checked by property."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replaydeck.errors import SessionClosed
from replaydeck.events import validate_event
from replaydeck.store.base import SessionRecord
from replaydeck.store.sequencing import MAX_REDACTED, assign, is_redacted_count

EMPTY = SessionRecord(id="s", created_at_us=0, metadata={}, status="open", last_seq=0)
ids = st.none() | st.sampled_from(["a", "b", "c", "d"])


def status(event_id: str | None, ts: int | None = None) -> object:
    raw: dict[str, object] = {"type": "status", "data": {"label": "x"}}
    if event_id is not None:
        raw["id"] = event_id
    if ts is not None:
        raw["ts"] = ts
    return validate_event(raw, max_bytes=1 << 16)


@given(st.lists(st.lists(ids, min_size=1, max_size=5), min_size=1, max_size=6))
def test_seqs_are_gapless_and_repeats_keep_their_seq(batches: list[list[str | None]]) -> None:
    session, known = EMPTY, {}
    stored: list[int] = []
    for batch in batches:
        result = assign(session, [status(i) for i in batch], known, received_us=1_000)
        for event_id, seq in zip(batch, result.seqs, strict=True):
            if event_id is not None and event_id in known:
                assert seq == known[event_id]
        stored.extend(e.seq for e in result.appended)
        known.update({e.id: e.seq for e in result.appended})
        session = result.session
    assert stored == list(range(1, len(stored) + 1))
    assert session.last_seq == len(stored)


def test_offsets_come_from_the_first_event_and_received_time_fills_in() -> None:
    # ts in epoch ms; the one without a ts was received at 5 s (in µs).
    events = [status("a", ts=1_000), status("b"), status("c", ts=1_250)]
    result = assign(EMPTY, events, {}, received_us=5_000_000)
    assert [e.as_dict()["offset_ms"] for e in result.appended] == [0.0, 4000.0, 250.0]
    assert result.session.first_ts_us == 1_000_000
    assert result.session.last_ts_us == 5_000_000


def test_nothing_after_final() -> None:
    final = validate_event({"type": "final", "id": "f"}, max_bytes=1 << 16)
    done = assign(EMPTY, [final], {}, 1).session
    assert done.status == "complete"
    with pytest.raises(SessionClosed):
        assign(done, [status("x")], {"f": 1}, 2)
    assert assign(done, [final], {"f": 1}, 2).seqs == [1]


@given(st.from_type(type(None)) | st.integers() | st.floats() | st.text() | st.booleans())
def test_the_redaction_count_survives_whatever_was_stored_before(held: object) -> None:
    redacting = dataclasses.replace(status("r"), redacted=2)
    session = dataclasses.replace(EMPTY, metadata={"redacted": held, "user": "al"})
    result = assign(session, [redacting], {}, received_us=1)
    count = result.session.metadata["redacted"]
    assert is_redacted_count(count)
    assert result.session.metadata["user"] == "al"
    if is_redacted_count(held):
        assert isinstance(held, int)
        assert count == min(held + 2, MAX_REDACTED)
    else:
        assert count == 2
