"""The one duration parser, for REPLAYDECK_RETENTION, `gc --older-than` and `share --expires`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from replaydeck.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("12h", 43200),
        ("7d", 604800),
        ("2W", 1209600),
        (" 30d ", 30 * 86400),
        ("1.5h", 5400),
        ("99999w", 99999 * 604800),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "30", "7 days", "-1d", "0d", "0.0h", "d", "1y", "1e3d", "9" * 5000 + "d", "1\x00d"]
)
def test_parse_duration_refuses_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"such as 30d \(days\)"):
        parse_duration(text)


def test_a_duration_beyond_what_python_holds_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than any duration"):
        parse_duration("999999999w")
