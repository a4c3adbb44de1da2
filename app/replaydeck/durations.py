"""Durations as operators type them: '90s', '15m', '12h', '30d', '2w'.

Hand-written: pydantic's timedelta wants ISO 8601 ('P30D') or seconds, and an
operator types '30d'. One parser for every setting and flag that takes one.
"""

from __future__ import annotations

import re
from datetime import timedelta

# The unit is required: a bare "30" read as seconds would make a retention of
# thirty days delete everything older than half a minute.
_DURATION = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> timedelta:
    """A positive duration; ValueError with a sentence a person can act on."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text[:40]!r} is not a duration; write a positive number and a unit, such as "
            "30d (days), 12h (hours), 90m (minutes), 45s (seconds) or 2w (weeks)."
        )
    try:
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    except OverflowError:
        raise ValueError(f"{text[:40]!r} is longer than any duration replaydeck keeps.") from None
