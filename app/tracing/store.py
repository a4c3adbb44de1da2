"""An EventStore wrapper that makes every stored session an OpenTelemetry trace.

Wrapping the store, rather than one route or service, means every writer (the HTTP
API, NDJSON imports, the demo, the recorder) gets the same trace ids: a session gets its
trace id when it is created, each envelope gets the `trace_id`/`span_id` of its span
before it is stored, and the stored events feed the tracer right after the commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio

from app.errors import SessionExists, SessionNotFound
from app.events import NewEvent
from app.store.base import (
    AppendResult,
    EventStore,
    SessionPage,
    SessionRecord,
    SessionStatus,
    StoredEvent,
)
from app.tracing.context import current_origin
from app.tracing.ids import TraceOrigin, trace_id_hex
from app.tracing.records import read_all, session_info
from app.tracing.tracer import SessionTracer


class _SessionLocks:
    """One lock per session with appends in flight, dropped when the last one leaves."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (anyio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class TracingStore:
    def __init__(self, inner: EventStore, tracer: SessionTracer, *, page_size: int = 500) -> None:
        self.inner = inner
        self.tracer = tracer
        self._page_size = page_size
        self._locks = _SessionLocks()

    def __getattr__(self, name: str) -> Any:
        # Backend extras (the engine, helpers added later) stay reachable through the wrapper.
        return getattr(self.inner, name)

    async def create_session(
        self,
        session_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        trace_id: str | None = None,
        traceparent: str | None = None,
    ) -> SessionRecord:
        if trace_id is None:
            origin = current_origin() or TraceOrigin.new()
            trace_id, traceparent = trace_id_hex(origin.trace_id), origin.traceparent
        return await self.inner.create_session(
            session_id, metadata=metadata, trace_id=trace_id, traceparent=traceparent
        )

    async def append(
        self,
        session_id: str,
        events: Sequence[NewEvent],
        *,
        expected_seq: int | None = None,
    ) -> AppendResult:
        # Serialized per session so that ids are assigned in the order events are stored;
        # the database serializes these appends anyway, so this costs no throughput.
        async with self._locks.hold(session_id):
            created = False
            if not self.tracer.is_tracking(session_id):
                created = await self._track(session_id)
            stamped = self._stamp(session_id, events)
            result = await self.inner.append(session_id, stamped, expected_seq=expected_seq)
            if result.appended and self.tracer.is_tracking(session_id):
                await self._catch_up(session_id, result.appended[0].seq)
                self.tracer.record(session_id, [e.as_dict() for e in result.appended])
        return dataclasses.replace(result, created=True) if created else result

    def _stamp(self, session_id: str, events: Sequence[NewEvent]) -> list[NewEvent]:
        if not self.tracer.is_tracking(session_id):
            return list(events)  # a finished session: appends are refused by the store
        ids = self.tracer.annotate(
            session_id, ({"id": e.id, "type": e.type, "data": e.data} for e in events)
        )
        return [
            dataclasses.replace(
                event, extra={**event.extra, "trace_id": i["trace_id"], "span_id": i["span_id"]}
            )
            for event, i in zip(events, ids, strict=True)
        ]

    async def _track(self, session_id: str) -> bool:
        """Start tracing a session, creating it (in the caller's trace) if unknown."""
        created = False
        try:
            record = await self.inner.get_session(session_id)
        except SessionNotFound:
            try:
                record = await self.create_session(session_id)
                created = True
            except SessionExists:
                record = await self.inner.get_session(session_id)
        if record.status == "complete":
            return created  # its trace is finished; the store refuses further appends
        prior = await read_all(self.inner, session_id, page_size=self._page_size)
        self.tracer.track(session_info(record), prior)
        return created

    async def _catch_up(self, session_id: str, first_new_seq: int) -> None:
        # Another replica may have appended since this one last saw the session.
        seen = self.tracer.last_seq(session_id)
        if first_new_seq > seen + 1:
            missed = await read_all(
                self.inner, session_id, after=seen, before=first_new_seq, page_size=self._page_size
            )
            self.tracer.record(session_id, missed, export=False)

    async def delete_session(self, session_id: str) -> None:
        await self.inner.delete_session(session_id)
        self.tracer.forget(session_id)

    async def get_session(self, session_id: str) -> SessionRecord:
        return await self.inner.get_session(session_id)

    async def list_sessions(
        self,
        *,
        status: SessionStatus | None = None,
        metadata: dict[str, str] | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> SessionPage:
        return await self.inner.list_sessions(
            status=status, metadata=metadata, cursor=cursor, limit=limit
        )

    async def read(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        return await self.inner.read(session_id, after=after, limit=limit)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
