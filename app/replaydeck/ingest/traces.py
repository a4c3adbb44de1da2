"""Recording a framework's own trace export as sessions.

General for any framework whose exporter posts batches of trace headers and finished
spans: the framework's module in replaydeck.telemetry turns a request into a
`TraceBatch`, and this service does the rest the same way for every framework:

- **naming**: a trace is recorded in the session named by its group id (a
  conversation's traces share one session) or else by its trace id; an id that is not
  a valid session id is hashed into one;
- **ordering**: a request's events go in by time, the trace's end last, so children
  exported before their parents still read in the order they happened;
- **idempotency**: events carry ids made from the framework's span ids, so a retried
  batch adds nothing (the store's rule for ids);
- **ending**: the trace's end is `final` in a session of its own trace, and `trace.end`
  in a group's session, which a later trace of the conversation goes on appending to.
  Events for a session that has ended are skipped and counted, never an error the
  exporter would retry for ever.

The trace → session memory is this process's (the header is sent when a trace starts,
its spans later): bounded, and lost on restart, after which a grouped trace's later
spans are recorded under the trace's own id.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from cachetools import LRUCache

from replaydeck.errors import InvalidParameter, PayloadTooLarge, SessionClosed, SessionExists
from replaydeck.events import NewEvent
from replaydeck.ingest.service import Ingest
from replaydeck.telemetry.batch import (
    TraceBatch,
    TraceEnd,
    TraceHeader,
    hashed_session_name,
    session_name,
)

log = logging.getLogger("replaydeck.ingest")

_REMEMBERED_TRACES = 10_000
_LAST = 2**63


@dataclass(slots=True)
class _Trace:
    session_id: str
    grouped: bool
    # Agent spans that handed off: their end is not the trace's end.
    handed_off: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class SessionWrite:
    id: str
    appended: int
    last_seq: int | None
    # The session had ended: these events were not stored.
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class TraceIngestResult:
    sessions: list[SessionWrite]
    ignored: int

    def as_json(self) -> dict[str, Any]:
        return {
            "sessions": [
                {"id": s.id, "appended": s.appended, "last_seq": s.last_seq, "skipped": s.skipped}
                for s in self.sessions
            ],
            "ignored": self.ignored,
        }


@dataclass
class TraceIngest:
    ingest: Ingest
    _traces: LRUCache[str, _Trace] = field(
        default_factory=lambda: LRUCache(maxsize=_REMEMBERED_TRACES)
    )

    def _trace(self, trace_id: str) -> _Trace:
        known = self._traces.get(trace_id)
        if known is None:
            known = self._traces[trace_id] = _Trace(self._session_id(trace_id, "trace"), False)
        return known

    def _start(self, header: TraceHeader) -> _Trace:
        if header.group_id:
            trace = _Trace(self._session_id(header.group_id, "group"), True)
        else:
            trace = _Trace(self._session_id(header.trace_id, "trace"), False)
        self._traces[header.trace_id] = trace
        return trace

    def _session_id(self, value: str, kind: str) -> str:
        name = session_name(value, kind)
        try:
            return self.ingest.check_session_id(name)
        except InvalidParameter:
            # An id holding a secret (a user's email as thread id, a key): the hash names
            # the session, so the id is never stored, logged or shown as sent.
            return hashed_session_name(value, kind)

    async def record(self, batch: TraceBatch) -> TraceIngestResult:
        """Validate everything, then create sessions and append; nothing is written when
        any event is refused."""
        starts = [(self._start(header), header) for header in batch.headers]
        for trace_id, parent_id in batch.handoff_parents:
            self._trace(trace_id).handed_off.add(parent_id)
        raw: dict[str, list[dict[str, Any]]] = {}
        for group in batch.events:
            raw.setdefault(self._trace(group.trace_id).session_id, []).extend(group.events)
        for end in batch.ends:
            if (event := self._end_event(end)) is not None:
                raw.setdefault(self._trace(end.trace_id).session_id, []).append(event)
        total = sum(map(len, raw.values()))
        limit = self.ingest.settings.max_batch_events
        if total > limit:
            raise PayloadTooLarge(
                f"The export maps to {total} events, more than {limit} "
                "(REPLAYDECK_MAX_BATCH_EVENTS); export smaller batches."
            )
        validated = {session_id: self._ordered(events) for session_id, events in raw.items()}
        for trace, header in starts:
            await self._create(trace.session_id, header.metadata)
        writes = [await self._append(sid, events) for sid, events in validated.items()]
        return TraceIngestResult(sessions=writes, ignored=batch.ignored)

    def _end_event(self, end: TraceEnd) -> dict[str, Any] | None:
        trace = self._trace(end.trace_id)
        if end.unless_handed_off and end.span_id in trace.handed_off:
            return None
        return end.event(grouped=trace.grouped)

    def _ordered(self, raw: list[dict[str, Any]]) -> list[NewEvent]:
        events = [self._validate(event, index) for index, event in enumerate(raw)]
        # Spans are exported as they end, children first; the session reads by time.
        # `final` goes last whatever its time, since the store takes nothing after it.
        return sorted(events, key=_order)

    def _validate(self, raw: dict[str, Any], index: int) -> NewEvent:
        try:
            return self.ingest.validate(raw, index)
        except PayloadTooLarge:
            # One huge tool output must not lose the whole batch: cut its longest texts.
            limit = self.ingest.settings.max_event_bytes
            return self.ingest.validate(shrink(raw, limit), index)

    async def _create(self, session_id: str, metadata: dict[str, Any]) -> None:
        # Exists already: a group's later trace, or a re-sent header.
        with contextlib.suppress(SessionExists):
            await self.ingest.store.create_session(
                session_id, metadata=self.ingest.redact_metadata(metadata)
            )

    async def _append(self, session_id: str, events: list[NewEvent]) -> SessionWrite:
        try:
            result = await self.ingest.append(session_id, events)
        except SessionClosed:
            # The exporter would retry a 409; what comes after the end is dropped, said.
            log.warning(
                "session %r has ended: %d exported events for it were not stored",
                session_id,
                len(events),
            )
            return SessionWrite(session_id, 0, None, skipped=len(events))
        return SessionWrite(session_id, len(result.appended), result.last_seq)


def _order(event: NewEvent) -> tuple[bool, int]:
    return (event.type == "final", _LAST if event.ts_us is None else event.ts_us)


def shrink(raw: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """`raw` with its longest strings cut until its data fits in about `max_bytes`."""
    data = raw.get("data", {})
    for _ in range(16):
        size = len(_dumps(data))
        if size <= max_bytes:
            break
        longest = _longest_string(data)
        if longest is None:
            break
        path, text = longest
        keep = max(0, len(text) - (size - max_bytes) - 64)
        data = _replace(data, path, text[:keep] + "… [truncated]")
    return {**raw, "data": {**data, "truncated": True}}


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


def _longest_string(value: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str] | None:
    best: tuple[tuple[Any, ...], str] | None = None
    items: Any = ()
    if isinstance(value, str):
        return path, value
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = _longest_string(item, (*path, key))
        if found is not None and (best is None or len(found[1]) > len(best[1])):
            best = found
    return best


def _replace(value: Any, path: tuple[Any, ...], new: str) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy
