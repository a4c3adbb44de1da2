"""Text that every backend can store, checked before it reaches one.

PostgreSQL refuses the NUL character (U+0000) in text and in jsonb, where
SQLite stores it without a word; and a lone surrogate (which Python's json
module makes of "\\ud800") cannot be encoded as UTF-8 for either. Inputs are
checked here first, so such a value is refused with a 422 that reads the same
whatever database is behind the server, instead of a 500 on one and a silent
success on the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any


def flaw(text: str) -> str | None:
    """Why no backend can store `text`, as a phrase; None when it can."""
    if "\x00" in text:
        return "holds a NUL character (\\u0000)"
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "holds a lone surrogate (\\ud800 to \\udfff), which is not valid Unicode"
    return None


# A place in a JSON value, as a chain of (parent, step) so that deep nesting
# costs one small tuple a level, and a sentence is rendered only when needed.
_Place = tuple["_Place | None", str]


def _render(place: _Place) -> str:
    steps: list[str] = []
    current: _Place | None = place
    while current is not None:
        current, step = current
        steps.append(step)
    if len(steps) > 8:  # deep nesting: the root and the last few steps say enough
        steps = [*steps[:6], "…", steps[-1]]
    return "".join(reversed(steps))


def json_flaws(value: Any, path: str) -> Iterator[str]:
    """Sentences for each place in a decoded JSON value that cannot be stored as given.

    Keys count as much as values; a non-finite number (which Python's json module
    reads from NaN or 1e400) would otherwise be stored as null. A loop, not
    recursion, so no nesting depth makes it fail.
    """
    pending: list[tuple[Any, _Place]] = [(value, (None, path))]
    while pending:
        item, place = pending.pop()
        if isinstance(item, str):
            if (reason := flaw(item)) is not None:
                yield f"{_render(place)} {reason}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                yield f"{_render(place)} is {item}, which JSON cannot carry"
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                # repr: the sentence itself must be storable and encodable.
                inner = (place, f"[{str(key)[:40]!r}]")
                if isinstance(key, str) and (reason := flaw(key)) is not None:
                    yield f"the key {_render(inner)} {reason}"
                pending.append((child, inner))
        elif isinstance(item, list):
            pending.extend(
                (child, (place, f"[{i}]")) for i, child in reversed(list(enumerate(item)))
            )
