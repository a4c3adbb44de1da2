"""The live tracer: one mapping state per active session, finished spans to a processor.

The store stamps envelopes with each tracked session's `stamper` as it commits them,
and `record` is fed what was committed, in the same order; the spans take their ids from
those stamps, so each event's span is assigned once, by the stamper. Both are plain CPU
work of O(events); the processor is a BatchSpanProcessor whose `on_end` is a queue
append, and its export runs in the SDK's own thread, so nothing here waits on the
network or blocks the event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from replaydeck.tracing.assign import SessionStamps, SpanAssigner
from replaydeck.tracing.mapping import Outcome, SessionInfo, SessionSpans


@dataclass(slots=True)
class _Live:
    spans: SessionSpans
    last_activity: float
    last_seq: int = 0
    # The last event fed was stored by another process (a replica): that process holds
    # the session too, with every event up to it, and is the one to end its spans.
    stored_elsewhere: bool = False
    # Set once the stored events are fed: the stamper carries on from an assigner run
    # over them.
    stamps: SessionStamps = field(init=False)


class SessionTracer:
    def __init__(
        self,
        processor: SpanProcessor | None,
        *,
        resource: Resource | None = None,
        idle_timeout_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_abandoned: int = 10_000,
    ) -> None:
        self.processor = processor
        self.resource = resource or Resource.get_empty()
        self.idle_timeout_s = idle_timeout_s
        self._clock = clock
        self._live: dict[str, _Live] = {}
        # Span ids exported when a session was abandoned, for the few sessions that resume
        # after going idle; bounded, oldest forgotten first.
        self._abandoned: OrderedDict[str, set[int]] = OrderedDict()
        self._max_abandoned = max_abandoned

    @property
    def exporting(self) -> bool:
        return self.processor is not None

    def is_tracking(self, session_id: str) -> bool:
        return session_id in self._live

    @property
    def tracking(self) -> int:
        """How many sessions this tracer holds state (open spans) for."""
        return len(self._live)

    def track(self, info: SessionInfo, prior_events: Iterable[Mapping[str, Any]] = ()) -> None:
        """Start following a session; `prior_events` (already stored, already exported
        before a restart) rebuild the state silently."""
        live = _Live(SessionSpans(info, resource=self.resource), self._clock())
        live.spans.exported = self._abandoned.get(info.session_id, set())
        # The mapping takes stamped events' span ids as they are, without an assigner, so
        # the stamper's is run over the stored events here, once per rebuild.
        assigner = SpanAssigner(info.origin.trace_id)
        self._feed(live, prior_events, export=False, assigner=assigner)
        live.stamps = SessionStamps(assigner, live.last_seq)
        # Held only once whole: a rebuild that raised leaves nothing half-built.
        if not live.spans.done:
            self._live[info.session_id] = live

    def last_seq(self, session_id: str) -> int:
        """The last seq this tracer has seen of a tracked session."""
        return self._live[session_id].last_seq

    def stamper(self, session_id: str) -> SessionStamps | None:
        """What the store stamps a tracked session's new envelopes with."""
        live = self._live.get(session_id)
        return None if live is None else live.stamps

    def record(
        self, session_id: str, stored: Iterable[Mapping[str, Any]], *, export: bool = True
    ) -> None:
        """Feed events that were just stored; `export=False` only catches the state up
        (events another replica stored and traced)."""
        live = self._live.get(session_id)
        if live is None:
            return
        live.last_activity = self._clock()
        self._feed(live, stored, export=export)
        if live.spans.done:
            del self._live[session_id]
            self._abandoned.pop(session_id, None)

    def _feed(
        self,
        live: _Live,
        events: Iterable[Mapping[str, Any]],
        *,
        export: bool,
        assigner: SpanAssigner | None = None,
    ) -> None:
        for event in events:
            seq = event.get("seq")
            if isinstance(seq, int):
                if seq <= live.last_seq:
                    continue  # already fed: never advance the state twice for one event
                live.last_seq = seq
            if assigner is not None and not live.spans.done:
                assigner.assign(event.get("type"), event.get("data"))
            live.stored_elsewhere = not export
            spans = live.spans.feed(event)
            if export:
                self._emit(spans)

    def idle(self) -> dict[str, int]:
        """Sessions idle past the timeout, each with the last seq this tracer has of it.

        A session whose last event (as far as this tracer knows) another process stored
        is dropped here, exporting nothing: that process holds the session as well, and
        ends its spans at `final` or when it finds it idle. Ending them here too would
        export them twice, as abandoned, while the session may still be going on.
        """
        now = self._clock()
        idle: dict[str, int] = {}
        for session_id, live in list(self._live.items()):
            if now - live.last_activity <= self.idle_timeout_s:
                continue
            if live.stored_elsewhere:
                del self._live[session_id]
            else:
                idle[session_id] = live.last_seq
        return idle

    def drop(self, session_id: str, seq: int) -> None:
        """Forget an idle session whose log goes on past `seq`, exporting nothing: the
        process that stored the later events ends its spans. Kept if fed since."""
        live = self._live.get(session_id)
        if live is not None and live.last_seq == seq:
            del self._live[session_id]

    def abandon(self, session_id: str, seq: int) -> bool:
        """End an idle session's open spans as abandoned, unless it was fed past `seq`
        or became active meanwhile; True if they were ended."""
        live = self._live.get(session_id)
        if (
            live is None
            or live.last_seq != seq
            or self._clock() - live.last_activity <= self.idle_timeout_s
        ):
            return False
        del self._live[session_id]
        spans = live.spans.finish(Outcome.ABANDONED)
        self._emit(spans)
        exported = self._abandoned.setdefault(session_id, set())
        exported.update(s.context.span_id for s in spans if s.context is not None)
        self._abandoned.move_to_end(session_id)
        while len(self._abandoned) > self._max_abandoned:
            self._abandoned.popitem(last=False)
        return True

    def sweep(self) -> list[str]:
        """Abandon every idle session this process stored the last event of; return
        their ids. For a process that is the only writer of its sessions: with several,
        TracingStore.sweep first checks the log for events stored elsewhere."""
        return [sid for sid, seq in self.idle().items() if self.abandon(sid, seq)]

    def forget(self, session_id: str) -> None:
        """Drop a deleted session's state without exporting anything more."""
        self._live.pop(session_id, None)
        self._abandoned.pop(session_id, None)

    def shutdown(self) -> None:
        # Open sessions are not abandoned here: after a restart they are rebuilt from the
        # log and their spans finish normally. Finished ones are flushed before exit.
        if self.processor is not None:
            self.processor.force_flush()
            self.processor.shutdown()

    def _emit(self, spans: Iterable[ReadableSpan]) -> None:
        if self.processor is None:
            return
        for span in spans:
            self.processor.on_end(span)
