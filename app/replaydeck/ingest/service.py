"""The ingest pipeline: validate → redact → append → announce."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from replaydeck.config import Settings
from replaydeck.errors import ReplaydeckError
from replaydeck.events import NewEvent, validate_event
from replaydeck.ingest.redact import RedactionRules, load_rules, redact, redact_events
from replaydeck.live.hub import Hub
from replaydeck.metrics import Metrics
from replaydeck.store.base import AppendResult, EventStore
from replaydeck.store.sequencing import with_redacted


@dataclass
class Ingest:
    store: EventStore
    hub: Hub
    settings: Settings
    metrics: Metrics | None = None
    rules: RedactionRules = field(init=False)

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
        events, _ = redact_events(events, self.rules)
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
