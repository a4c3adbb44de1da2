"""Session metadata: what a producer may store in it, and how the list filters on it."""

from __future__ import annotations

from typing import Any

import orjson

from replaydeck.errors import InvalidParameter, PayloadTooLarge
from replaydeck.storable import flaw, json_flaws
from replaydeck.store.sequencing import MAX_REDACTED, REDACTED_KEY, is_redacted_count

# Characters that JSON escapes in a key. SQLite's JSON paths compare a key as
# it is written in the JSON text, so a filter on such a key would never match
# there (while PostgreSQL matched it): both refuse it instead.


def check_metadata(metadata: dict[str, Any], *, max_bytes: int) -> None:
    """Refuse metadata that a backend cannot store as given, that is too large, or
    that gives the key replaydeck keeps its redaction count under another meaning."""
    if REDACTED_KEY in metadata and not is_redacted_count(metadata[REDACTED_KEY]):
        # A whole number is the count itself: an exported session brings its own.
        raise InvalidParameter(
            f"The metadata key {REDACTED_KEY!r} is reserved: replaydeck counts there the "
            "values redaction replaced in the session. It takes only a whole number from 0 "
            f"to {MAX_REDACTED} (an exported session's count); rename your own key."
        )
    for problem in json_flaws(metadata, "metadata"):
        raise InvalidParameter(f"The metadata cannot be stored: {problem}. Remove or replace it.")
    try:
        encoded = orjson.dumps(metadata)
    except orjson.JSONEncodeError as e:  # an integer past 64 bits, or nesting too deep
        raise InvalidParameter(
            f"The metadata cannot be stored as JSON ({e}); keep integers within 64 bits "
            "and nesting under 250 levels."
        ) from None
    if len(encoded) > max_bytes:
        raise PayloadTooLarge(
            f"The metadata is {len(encoded)} bytes as JSON; the limit is {max_bytes} bytes "
            "(REPLAYDECK_MAX_METADATA_BYTES). Keep large values in the session's events."
        )


def parse_metadata_filters(pairs: list[str]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidParameter(
                f"The metadata filter {pair[:60]!r} is not key=value; write e.g. "
                "?metadata=user=alice (repeat it to combine filters)."
            )
        reason = flaw(pair)
        if reason is not None:
            raise InvalidParameter(
                f"The metadata filter {pair[:60]!r} {reason}, which no stored metadata "
                "can hold; remove it from the filter."
            )
        filters[key] = value
    return filters
