"""The live tracer: one mapping state per active session, finished spans to a processor.

The store stamps envelopes with each tracked session's `stamper` as it commits them,
and `record` is fed what was committed, in the same order. Both are plain CPU work of
O(events); the
processor is a BatchSpanProcessor whose `on_end` is a queue append, and its export runs
in the SDK's own thread, so nothing here waits on the network or blocks the event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from replaydeck.tracing.mapping import Outcome, SessionInfo, SessionSpans
from replaydeck.tracing.stamps import SessionStamps


@dataclass(slots=True)
class _Live:
    spans: SessionSpans
    last_activity: float
    last_seq: int = 0
    # Set once the stored events are fed: the stamper carries on from their state.
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

    def track(self, info: SessionInfo, prior_events: Iterable[Mapping[str, Any]] = ()) -> None:
        """Start following a session; `prior_events` (already stored, already exported
        before a restart) rebuild the state silently."""
        live = _Live(SessionSpans(info, resource=self.resource), self._clock())
        live.spans.exported = self._abandoned.get(info.session_id, set())
        self._live[info.session_id] = live
        self._feed(live, prior_events, export=False)
        live.stamps = SessionStamps(live.spans.assigner.copy(), live.last_seq)
        if live.spans.done:
            del self._live[info.session_id]

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

    def _feed(self, live: _Live, events: Iterable[Mapping[str, Any]], *, export: bool) -> None:
        for event in events:
            seq = event.get("seq")
            if isinstance(seq, int):
                if seq <= live.last_seq:
                    continue  # already fed: never advance the state twice for one event
                live.last_seq = seq
            spans = live.spans.feed(event)
            if export:
                self._emit(spans)

    def sweep(self) -> list[str]:
        """End the open spans of sessions idle past the timeout; return their ids."""
        now = self._clock()
        idle = [
            session_id
            for session_id, live in self._live.items()
            if now - live.last_activity > self.idle_timeout_s
        ]
        for session_id in idle:
            spans = self._live.pop(session_id).spans.finish(Outcome.ABANDONED)
            self._emit(spans)
            exported = self._abandoned.setdefault(session_id, set())
            exported.update(s.context.span_id for s in spans if s.context is not None)
            self._abandoned.move_to_end(session_id)
            while len(self._abandoned) > self._max_abandoned:
                self._abandoned.popitem(last=False)
        return idle

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
