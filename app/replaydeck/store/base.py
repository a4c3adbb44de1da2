"""The log's interface. Every backend passes tests/store/contract.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

import orjson

from replaydeck.events import NewEvent

SessionStatus = Literal["open", "complete"]

# (seq, type, ts_us, envelope): a stored event as the streaming paths use it.
# A plain tuple, because building a StoredEvent per row was a large part of a
# catch-up's time (scripts/bench/RESULTS.md, benchmark 6).
EventRow = tuple[int, str, int, bytes]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An immutable log entry. `envelope` is the serialized JSON that streams send."""

    seq: int
    id: str
    type: str
    ts_us: int
    envelope: bytes

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(self.envelope)
        return result


def stored_events(rows: Iterable[Sequence[Any]]) -> list[StoredEvent]:
    """Rows of (seq, id, type, ts_us, envelope) as StoredEvents."""
    return [
        StoredEvent(seq, event_id, kind, ts_us, bytes(envelope))
        for seq, event_id, kind, ts_us, envelope in rows
    ]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    created_at_us: int
    metadata: dict[str, Any]
    status: SessionStatus
    last_seq: int
    first_ts_us: int | None = None
    last_ts_us: int | None = None
    final_seq: int | None = None
    trace_id: str | None = None
    traceparent: str | None = None

    @property
    def duration_ms(self) -> float:
        if self.first_ts_us is None or self.last_ts_us is None:
            return 0.0
        return (self.last_ts_us - self.first_ts_us) / 1000


@dataclass(frozen=True, slots=True)
class AppendResult:
    session: SessionRecord
    # One seq per event of the request, in order; repeats give the original seq.
    seqs: list[int]
    # Only the events this append stored (repeats are not in it).
    appended: list[StoredEvent] = field(default_factory=list)
    created: bool = False

    @property
    def last_seq(self) -> int:
        return self.session.last_seq


@dataclass
class GcReport:
    """What a retention sweep deleted (or, dry, would delete)."""

    cutoff_us: int
    dry_run: bool
    session_ids: list[str] = field(default_factory=list)
    events: int = 0


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: list[SessionRecord]
    next_cursor: str | None


class StampDraft(Protocol):
    """One transaction's stamping state for one session."""

    @property
    def seq(self) -> int:
        """The seq of the last event of the session this state has seen (0: none)."""
        ...

    def catch_up(self, stored: Sequence[StoredEvent]) -> None:
        """See the events after `seq` that another process stored, in seq order."""
        ...

    def stamp(self, event_id: str, event: NewEvent) -> Mapping[str, Any]:
        """Fields to add to this event's envelope; called once per stored event, in seq order."""
        ...

    def commit(self) -> None:
        """The transaction committed: what was stamped is now the session's state."""
        ...


class Stamper(Protocol):
    """Adds fields to the envelopes of one session, seeing its events in commit order.

    Tracing's span ids depend on every earlier event of the session, so they can
    only be chosen where the store has decided which events it stores and in what
    order. The store asks for a draft per transaction and stamps only events it
    stores (never repeats, never a refused request); it commits the draft once the
    transaction has committed, so a rollback leaves the stamper as it was.

    Other processes (replicas) may append to the same session without this stamper.
    So once the transaction holds the session, and before the first stamp, the store
    feeds the draft (`catch_up`) the events stored after its `seq`: a stamp always
    follows every earlier event of the session, wherever that event was appended.
    """

    def draft(self) -> StampDraft: ...


# Called on the event loop after an append's events are committed, in commit order.
StoredHook = Callable[[AppendResult], None]

log = logging.getLogger("replaydeck.store")


def announce(hook: StoredHook, result: AppendResult) -> None:
    """Run an `on_stored` hook. The events are committed whatever it does, so a failing
    hook is logged, never raised: raised, it would answer a stored append with an error
    (and a retry without ids would store it twice) or stop the writer for everyone."""
    try:
        hook(result)
    except Exception:
        log.exception(
            "A consumer of session %r's appended events failed; the events are stored",
            result.session.id,
        )


def commit_drafts(drafts: Iterable[StampDraft]) -> None:
    """Commit a committed transaction's stamp drafts; like `announce`, never raises."""
    for draft in drafts:
        try:
            draft.commit()
        except Exception:
            log.exception("Stamping state could not be committed; the events are stored")


class EventStore(Protocol):
    async def create_session(
        self,
        session_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        trace_id: str | None = None,
        traceparent: str | None = None,
    ) -> SessionRecord:
        """Create an empty session; SessionExists if the id is taken."""
        ...

    async def get_session(self, session_id: str) -> SessionRecord:
        """SessionNotFound if unknown."""
        ...

    async def list_sessions(
        self,
        *,
        status: SessionStatus | None = None,
        metadata: dict[str, str] | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> SessionPage:
        """Newest first; pass `next_cursor` back to get the next page."""
        ...

    async def count_types(self, session_ids: Sequence[str], types: Sequence[str]) -> dict[str, int]:
        """How many events of `types` each of `session_ids` holds; a session with
        none (or unknown) is left out."""
        ...

    async def delete_session(self, session_id: str, *, only_if_empty: bool = False) -> None:
        """Delete the session, its events and shares; SessionNotFound if unknown.

        With `only_if_empty`, a session that holds events is kept, checked in the
        same statement, and an unknown one is no error.
        """
        ...

    async def append(
        self,
        session_id: str,
        events: Sequence[NewEvent],
        *,
        expected_seq: int | None = None,
        stamper: Stamper | None = None,
        on_stored: StoredHook | None = None,
    ) -> AppendResult:
        """Append atomically, creating the session if unknown.

        Assigns gapless seqs; an event whose id is already in the session is not
        stored again and gets its original seq. Raises SessionClosed after final,
        SeqConflict when `expected_seq` is not the session's last seq.

        For one session in one process, `stamper` drafts and `on_stored` calls come
        in commit order, also for appends made concurrently and without a lock of
        the caller's; `on_stored` runs even if the caller was cancelled meanwhile.
        """
        ...

    async def read(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        """Events with seq > after, in seq order; [] for an unknown session."""
        ...

    async def read_rows(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[EventRow]:
        """The events `read` returns, as EventRow tuples: the lean read for streams.
        With `max_bytes`, the page also ends at the event whose envelope takes it to
        that many bytes or past (the first event is always in it)."""
        ...

    async def delete_idle(
        self,
        *,
        older_than: timedelta,
        dry_run: bool = False,
        now: int | None = None,
        batch_size: int = 200,
        on_deleted: Callable[[str], None] | None = None,
    ) -> GcReport:
        """Delete (or, dry, list) sessions idle for longer than `older_than`, safely
        beside live appends; `on_deleted` hears each id once its batch committed.
        `now` is epoch microseconds (tests inject it)."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the database cannot be reached."""
        ...

    async def close(self) -> None: ...
