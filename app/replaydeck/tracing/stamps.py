"""A session's stamper: `trace_id`/`span_id` written into envelopes as the store commits.

The store drafts one copy of the assigner per transaction, on whichever thread writes
(SQLite's writer thread), and commits it after the database has. Nothing else touches
`assigner` once the session is tracked, so the loop and the writer never race on it.

Other replicas append to the same session with stampers of their own, so a draft may
start behind the log: the store then feeds it (`catch_up`) what they stored, read under
the transaction's lock, before it stamps. Without that, a replica's stamps would follow
only the events appended through it, and a message or tool whose events reached two
replicas would be stamped with two different span ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from replaydeck.events import NewEvent
from replaydeck.store.base import StoredEvent
from replaydeck.tracing.assign import SpanAssigner
from replaydeck.tracing.ids import span_id_hex, trace_id_hex


class SessionStamps:
    def __init__(self, assigner: SpanAssigner, seq: int = 0) -> None:
        self.assigner = assigner
        # The seq of the last event `assigner` has seen.
        self.seq = seq
        self.trace_id_hex = trace_id_hex(assigner.trace_id)

    def draft(self) -> StampsDraft:
        return StampsDraft(self, self.assigner.copy(), self.seq)


class StampsDraft:
    __slots__ = ("_assigner", "_owner", "_seq")

    def __init__(self, owner: SessionStamps, assigner: SpanAssigner, seq: int) -> None:
        self._owner = owner
        self._assigner = assigner
        self._seq = seq

    @property
    def seq(self) -> int:
        return self._seq

    def catch_up(self, stored: Sequence[StoredEvent]) -> None:
        for event in stored:
            if event.seq <= self._seq:
                continue
            envelope = event.as_dict()
            self._assigner.assign(envelope.get("type"), envelope.get("data"))
            self._seq = event.seq

    def stamp(self, event_id: str, event: NewEvent) -> Mapping[str, Any]:
        # The store stamps the events it stores in seq order, with no gaps.
        self._seq += 1
        ref = self._assigner.assign(event.type, event.data)
        return {"trace_id": self._owner.trace_id_hex, "span_id": span_id_hex(ref.span_id)}

    def commit(self) -> None:
        self._owner.assigner = self._assigner
        self._owner.seq = self._seq
