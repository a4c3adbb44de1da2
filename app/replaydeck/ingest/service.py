"""The ingest pipeline: validate → redact → append → announce."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from replaydeck.config import Settings
from replaydeck.errors import InvalidEvent, InvalidParameter, ReplaydeckError
from replaydeck.events import NewEvent, validate_event
from replaydeck.ingest.redact import RedactionRules, load_rules, redact, redact_events
from replaydeck.ingest.split_secrets import redact_split_secrets
from replaydeck.live.hub import Hub
from replaydeck.store.base import AppendResult, EventStore
from replaydeck.store.sequencing import with_redacted


class IngestMeter(Protocol):
    """What ingest reports (web/metrics.py's Metrics counts it for /metrics)."""

    def appended(self, count: int, seconds: float) -> None: ...

    def append_failed(self, slug: str) -> None: ...


_CLEAN_SESSIONS = 10_000


@dataclass
class Ingest:
    store: EventStore
    hub: Hub
    settings: Settings
    metrics: IngestMeter | None = None
    rules: RedactionRules = field(init=False)
    # Session ids already searched for secrets and found clean (bounded).
    _clean_sessions: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        # Read once: the defaults plus REPLAYDECK_REDACT_* and the rules file.
        self.rules = load_rules(
            self.settings.redact_keys,
            self.settings.redact_patterns,
            self.settings.redact_rules_file,
        )

    def redact_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Session metadata with secrets replaced, counted like the events' ones."""
        clean, count = redact(metadata, self.rules)
        return with_redacted(clean, count) if count else dict(clean)

    def check_session_id(self, session_id: str) -> str:
        """Refuse an id that holds a secret: ids are keys, so they are stored, logged
        and shown as sent and cannot be redacted without breaking idempotency."""
        self._check_ids(session_id, [])
        return session_id

    def _check_ids(self, session_id: str, events: Sequence[NewEvent]) -> None:
        # A producer appends to one session many times: its id, once found clean, is
        # not searched again (each search has a fixed cost of a few µs).
        checked = session_id in self._clean_sessions
        event_ids = [event.id for event in events if event.id is not None]
        if checked and not event_ids:
            return
        # One search for the ids together (see first_match).
        ids = event_ids if checked else [session_id, *event_ids]
        found = self.rules.first_match(ids)
        if found == 0 and not checked:
            raise InvalidParameter(
                "The session id looks like it holds a secret (it matches a redaction "
                "pattern, such as an API key or a URL with a password). Ids are stored, "
                "logged and shown as sent and cannot be redacted; choose an id that "
                "carries no credential."
            )
        if found is not None:
            index = next(i for i, event in enumerate(events) if event.id == ids[found])
            where = "The event" if len(events) == 1 else f"Event {index}"
            raise InvalidEvent(
                f"{where} has an 'id' that looks like it holds a secret (it matches "
                "a redaction pattern). An id is the event's idempotency key, stored, "
                "logged and streamed as sent, so it cannot be redacted; use an id "
                "without credentials, or leave 'id' out and replaydeck makes one."
            )
        if not checked:
            if len(self._clean_sessions) >= _CLEAN_SESSIONS:
                self._clean_sessions.clear()
            self._clean_sessions.add(session_id)

    def validate(self, raw: Any, index: int | None = None) -> NewEvent:
        return validate_event(raw, index=index, max_bytes=self.settings.max_event_bytes)

    async def append(
        self,
        session_id: str,
        events: Sequence[NewEvent],
        *,
        expected_seq: int | None = None,
    ) -> AppendResult:
        # Redact first, so a secret reaches neither the store nor any span.
        self._check_ids(session_id, events)
        events, _ = redact_events(redact_split_secrets(events, self.rules), self.rules)
        started = time.perf_counter()

        def announce(result: AppendResult) -> None:
            # Called by the store right after the commit, in commit order, also
            # when this request's client has gone meanwhile: the hub never runs
            # ahead of the log, and nothing committed goes unannounced. The
            # events go along so the hub encodes their frames once for all tails.
            self.hub.publish(session_id, result.last_seq, events=result.appended)

        try:
            result = await self.store.append(
                session_id, events, expected_seq=expected_seq, on_stored=announce
            )
        except ReplaydeckError as e:
            if self.metrics is not None:
                self.metrics.append_failed(e.slug)
            raise
        if self.metrics is not None:
            self.metrics.appended(len(result.appended), time.perf_counter() - started)
        return result

    async def append_raw(self, session_id: str, raw_events: Sequence[Any]) -> AppendResult:
        """Validate and append plain dicts (the demo, imports, tests)."""
        events = [self.validate(raw, index) for index, raw in enumerate(raw_events)]
        return await self.append(session_id, events)
