"""The pure parts: offsets, header values, cursors."""

from __future__ import annotations

import random

import pytest

from replaydeck.durable.protocol import (
    CURSOR_EPOCH_S,
    next_cursor,
    offset_of,
    parse_counter,
    parse_expires_at,
    parse_offset,
    parse_ttl,
)
from replaydeck.errors import StreamBadRequest


def test_offsets_sort_as_their_seqs_and_parse_back() -> None:
    seqs = [0, 1, 9, 10, 99, 100, 12345678901]
    offsets = [offset_of(seq) for seq in seqs]
    assert sorted(offsets) == offsets
    assert [parse_offset(o) for o in offsets] == seqs
    assert "-1" not in offsets
    assert "now" not in offsets


@pytest.mark.parametrize(
    "value", ["", "1", "0000000000000000_1", "0000000000000001_0000000000000001", "x" * 33]
)
def test_offsets_this_server_did_not_mint_are_refused(value: str) -> None:
    with pytest.raises(StreamBadRequest):
        parse_offset(value)


@pytest.mark.parametrize("value", ["+3600", "03600", "3600.0", "3.6e3", "-1", ""])
def test_ttl_is_a_plain_decimal(value: str) -> None:
    with pytest.raises(StreamBadRequest):
        parse_ttl(value)
    assert parse_ttl("3600") == 3600


def test_expiry_needs_a_time_zone() -> None:
    assert parse_expires_at("1970-01-01T00:00:01Z") == 1_000_000
    with pytest.raises(StreamBadRequest):
        parse_expires_at("2026-01-01T00:00:00")


def test_producer_counters_stop_at_2_to_the_53() -> None:
    assert parse_counter(str(2**53 - 1), "Producer-Seq") == 2**53 - 1
    with pytest.raises(StreamBadRequest):
        parse_counter(str(2**53), "Producer-Seq")


def test_cursors_move_forward_even_when_a_client_is_ahead() -> None:
    now = CURSOR_EPOCH_S + 20 * 1000 + 5
    assert next_cursor(now, None) == "1000"
    assert next_cursor(now, "999") == "1000"
    ahead = next_cursor(now, "1000", random.Random(1))
    assert int(ahead) > 1000
    assert int(next_cursor(now, "5000", random.Random(2))) > 5000
