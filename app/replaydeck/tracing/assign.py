"""Which span each event belongs to, decided before the event is stored.

The assigner is the small, copyable state that decides span ids. The store runs one
copy (the session's `SessionStamps`, below) to write `trace_id`/`span_id` into
envelopes as it commits them, and the span builder (mapping.py) takes each span's id
from those stamps. It runs the same rules itself, in the same order, only on events
stored without a stamp (before stamping existed), so those keep the ids they had.

The store drafts one copy of the assigner per transaction, on whichever thread writes
(SQLite's writer thread), and commits it after the database has. Nothing else touches
a stamper's `assigner` once the session is tracked, so the loop and the writer never
race on it.

Other replicas append to the same session with stampers of their own, so a draft may
start behind the log: the store then feeds it (`catch_up`) what they stored, read under
the transaction's lock, before it stamps. Without that, a replica's stamps would follow
only the events appended through it, and a message or tool whose events reached two
replicas would be stamped with two different span ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from replaydeck.events import TURN_END, NewEvent
from replaydeck.store.base import StoredEvent
from replaydeck.tracing.ids import derive_span_id, span_id_hex, trace_id_hex

TOOL_CALL = "tool.call"
TOOL_RESULT = "tool.result"
DELTA = "message.delta"
USER_MESSAGE = "user.message"

# Events that end the current assistant message: the model has stopped talking, or
# the user has spoken (their next turn's answer is another message).
# `status` and free-form events do not, so a "searching…" label between two deltas
# leaves the message whole.
ENDS_MESSAGE = frozenset({TOOL_CALL, TOOL_RESULT, "error", "final", USER_MESSAGE, TURN_END})


class SpanKind(StrEnum):
    ROOT = "root"
    TOOL = "tool"
    MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class SpanRef:
    kind: SpanKind
    span_id: int
    # For tools, the call id; for messages, the message id (None for an unnamed run).
    key: str | None = None


@dataclass(slots=True)
class SpanAssigner:
    trace_id: int
    root_span_id: int = 0
    _message: SpanRef | None = None
    _messages: int = 0
    _message_parts: dict[str, int] = field(default_factory=dict)
    _tool_uses: dict[str, int] = field(default_factory=dict)
    _open_tools: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root_span_id = derive_span_id(self.trace_id, "root")

    def copy(self) -> SpanAssigner:
        # Once per transaction that stamps: shallow dict copies are enough (values
        # are immutable) and much cheaper than deepcopy.
        return replace(
            self,
            _message_parts=dict(self._message_parts),
            _tool_uses=dict(self._tool_uses),
            _open_tools=dict(self._open_tools),
        )

    def assign(self, kind: Any, data: Any) -> SpanRef:
        """The span of the session's next event, of type `kind` with payload `data`."""
        payload: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        if kind in ENDS_MESSAGE:
            self._message = None
        if kind == DELTA:
            return self._delta(payload)
        if kind == TOOL_CALL:
            call_id = str(payload.get("call_id", ""))
            uses = self._tool_uses[call_id] = self._tool_uses.get(call_id, 0) + 1
            span_id = derive_span_id(self.trace_id, "tool", call_id, str(uses))
            self._open_tools[call_id] = span_id
            return SpanRef(SpanKind.TOOL, span_id, call_id)
        if kind == TOOL_RESULT:
            call_id = str(payload.get("call_id", ""))
            span_id_or_none = self._open_tools.pop(call_id, None)
            if span_id_or_none is None:
                # A result with no open call becomes a span of its own, keyed so that a
                # later call reusing the id cannot collide with it.
                uses = self._tool_uses[call_id] = self._tool_uses.get(call_id, 0) + 1
                span_id_or_none = derive_span_id(self.trace_id, "tool", call_id, str(uses))
            return SpanRef(SpanKind.TOOL, span_id_or_none, call_id)
        return SpanRef(SpanKind.ROOT, self.root_span_id)

    def _delta(self, payload: Mapping[str, Any]) -> SpanRef:
        raw_id = payload.get("message_id")
        message_id = str(raw_id) if raw_id is not None else None
        current = self._message
        if current is not None and current.key == message_id:
            return current
        self._messages += 1
        if message_id is None:
            key: tuple[str, ...] = ("message", "#", str(self._messages))
        else:
            # A message that resumes after a tool call is a new span (a second part).
            part = self._message_parts[message_id] = self._message_parts.get(message_id, 0) + 1
            key = ("message", message_id, str(part))
        ref = SpanRef(SpanKind.MESSAGE, derive_span_id(self.trace_id, *key), message_id)
        self._message = ref
        return ref


# -- the store-side stamper ----------------------------------------------------------


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
