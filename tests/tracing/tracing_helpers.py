"""Envelope builders for tracing tests: a session timeline in milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from replaydeck.events import NewEvent
from replaydeck.tracing.assign import SessionStamps

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000


def ts(ms: float) -> str:
    return (T0 + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ns(ms: float) -> int:
    return T0_NS + round(ms * 1_000_000)


class Timeline:
    """Builds stored envelopes with gapless seqs, as the store would return them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, ms: float, type_: str, **data: Any) -> dict[str, Any]:
        seq = len(self.events) + 1
        event = {
            "seq": seq,
            "id": f"e{seq}",
            "type": type_,
            "ts": ts(ms),
            "offset_ms": float(ms),
            "data": data,
        }
        self.events.append(event)
        return event


def stamped(
    stamps: SessionStamps, envelopes: list[dict[str, Any]], *, commit: bool = True
) -> list[dict[str, Any]]:
    """`envelopes` with the trace and span ids the store would write into them."""
    draft = stamps.draft()
    out = [{**e, **draft.stamp(e["id"], NewEvent(e["type"], e["data"], b""))} for e in envelopes]
    if commit:
        draft.commit()
    return out
