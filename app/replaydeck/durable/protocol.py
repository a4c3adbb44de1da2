"""Pure parts of the Durable Streams protocol: offsets, header values, cursors."""

from __future__ import annotations

import random
import re
from datetime import datetime

from replaydeck.errors import StreamBadRequest

# An offset is the session seq of the last event before it, zero-padded so that
# offsets sort as strings; the first half is reserved (always zero).
_OFFSET = re.compile(r"0{16}_(\d{16})")
BEGINNING = "-1"
NOW = "now"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
MAX_SAFE_INTEGER = 2**53 - 1
# A stream name: 1 to 1,024 characters, none of them control characters (they
# could not stand in the Location header, percent-encoded or not).
STREAM_NAME = r"^[^\x00-\x1f\x7f]{1,1024}$"
# Section 10.1: cursors count 20 s intervals from 2024-10-09T00:00:00Z.
CURSOR_EPOCH_S = 1_728_432_000
CURSOR_INTERVAL_S = 20


def offset_of(seq: int) -> str:
    return f"{0:016d}_{seq:016d}"


def parse_offset(value: str, what: str = "offset") -> int:
    """The seq an offset names; StreamBadRequest for anything this server did not mint."""
    match = _OFFSET.fullmatch(value)
    if match is None:
        raise StreamBadRequest(
            f"The {what} {value[:80]!r} is not an offset of this server; use -1, now, or "
            "a Stream-Next-Offset value it returned."
        )
    return int(match.group(1))


def is_true(value: str | None) -> bool:
    """Stream-Closed counts only when it says `true`, in any case (section 4.1)."""
    return value is not None and value.strip().lower() == "true"


def parse_ttl(value: str) -> int:
    if _DECIMAL.fullmatch(value) is None:
        raise StreamBadRequest(
            f"Stream-TTL {value[:40]!r} is not a number of seconds; send a non-negative "
            "decimal integer without sign, leading zeros or exponent, such as 3600."
        )
    return int(value)


def parse_expires_at(value: str) -> int:
    """An RFC 3339 time as epoch microseconds."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise StreamBadRequest(
            f"Stream-Expires-At {value[:60]!r} is not an RFC 3339 timestamp with a time "
            'zone, such as "2026-12-31T23:59:59Z".'
        )
    return round(moment.timestamp() * 1_000_000)


def parse_counter(value: str, header: str) -> int:
    """Producer-Epoch, Producer-Seq, Stream-Fork-Sub-Offset: 0 ≤ n ≤ 2^53-1."""
    if _DECIMAL.fullmatch(value) is None or int(value) > MAX_SAFE_INTEGER:
        raise StreamBadRequest(
            f"{header} {value[:40]!r} is not a non-negative integer up to 2^53-1."
        )
    return int(value)


def next_cursor(now_s: float, client: str | None, rng: random.Random | None = None) -> str:
    """Section 10.1: the current interval, or past the client's own cursor when that
    is not behind, so a CDN never serves one empty answer forever."""
    interval = int((now_s - CURSOR_EPOCH_S) // CURSOR_INTERVAL_S)
    if client is not None and _DECIMAL.fullmatch(client) and int(client) >= interval:
        jitter_s = (rng or random).randint(1, 3600)
        return str(int(client) + max(1, jitter_s // CURSOR_INTERVAL_S))
    return str(interval)


def media_type(content_type: str | None) -> str:
    """The media type alone, lower-cased: parameters such as charset do not count."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    return media_type(content_type) == "application/json"


def is_text(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind.startswith("text/") or kind == "application/json"
