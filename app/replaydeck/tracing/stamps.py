"""A session's stamper: `trace_id`/`span_id` written into envelopes as the store commits.

The store drafts one copy of the assigner per transaction, on whichever thread writes
(SQLite's writer thread), and commits it after the database has. Nothing else touches
`assigner` once the session is tracked, so the loop and the writer never race on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replaydeck.events import NewEvent
from replaydeck.tracing.assign import SpanAssigner
from replaydeck.tracing.ids import span_id_hex, trace_id_hex


class SessionStamps:
    def __init__(self, assigner: SpanAssigner) -> None:
        self.assigner = assigner
        self.trace_id_hex = trace_id_hex(assigner.trace_id)

    def draft(self) -> StampsDraft:
        return StampsDraft(self, self.assigner.copy())


class StampsDraft:
    __slots__ = ("_assigner", "_owner")

    def __init__(self, owner: SessionStamps, assigner: SpanAssigner) -> None:
        self._owner = owner
        self._assigner = assigner

    def stamp(self, event_id: str, event: NewEvent) -> Mapping[str, Any]:
        ref = self._assigner.assign(event.type, event.data)
        return {"trace_id": self._owner.trace_id_hex, "span_id": span_id_hex(ref.span_id)}

    def commit(self) -> None:
        self._owner.assigner = self._assigner
