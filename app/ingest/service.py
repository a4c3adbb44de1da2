"""The ingest pipeline: validate → redact → append → announce."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.events import NewEvent, validate_event
from app.live.hub import Hub
from app.store.base import AppendResult, EventStore


@dataclass
class Ingest:
    store: EventStore
    hub: Hub
    settings: Settings

    def validate(self, raw: Any, index: int | None = None) -> NewEvent:
        return validate_event(raw, index=index, max_bytes=self.settings.max_event_bytes)

    async def append(
        self,
        session_id: str,
        events: Sequence[NewEvent],
        *,
        expected_seq: int | None = None,
    ) -> AppendResult:
        result = await self.store.append(session_id, events, expected_seq=expected_seq)
        if result.appended:
            # Announce after the commit: the hub never runs ahead of the log.
            self.hub.publish(session_id, result.last_seq)
        return result

    async def append_raw(self, session_id: str, raw_events: Sequence[Any]) -> AppendResult:
        """Validate and append plain dicts (the demo, imports, tests)."""
        events = [self.validate(raw, index) for index, raw in enumerate(raw_events)]
        return await self.append(session_id, events)
