"""An EventStore wrapper that makes every stored session an OpenTelemetry trace.

Wrapping the store, rather than one route or service, means every writer (the HTTP
API, NDJSON imports, the demo, the recorder) gets the same trace ids: a session gets its
trace id when it is created, the store stamps each envelope with the `trace_id`/`span_id`
of its span as it commits it, and the committed events feed the tracer in commit order.

Nothing here holds a lock across an append: the store keeps one session's stamps and
`on_stored` calls in commit order (EventStore.append), so concurrent producers of one
session share group commits instead of taking turns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from replaydeck.errors import ReplaydeckError, SessionExists, SessionNotFound
from replaydeck.events import NewEvent
from replaydeck.store.base import (
    AppendResult,
    EventRow,
    EventStore,
    GcReport,
    SessionPage,
    SessionRecord,
    SessionStatus,
    Stamper,
    StoredEvent,
    StoredHook,
    announce,
)
from replaydeck.store.session_locks import SessionLocks
from replaydeck.tracing.context import current_origin
from replaydeck.tracing.document import read_all, session_info
from replaydeck.tracing.ids import TraceOrigin, trace_id_hex
from replaydeck.tracing.tracer import SessionTracer

log = logging.getLogger("replaydeck.tracing")


class TracingStore:
    def __init__(self, inner: EventStore, tracer: SessionTracer, *, page_size: int = 500) -> None:
        self.inner = inner
        self.tracer = tracer
        self._page_size = page_size
        self._tracking = SessionLocks()
        # Committed appends waiting behind a catch-up read, per session.
        self._backlog: dict[str, list[list[StoredEvent]]] = {}
        self._catching_up: set[asyncio.Task[None]] = set()
        # Sessions whose stored events could not be traced: stored untraced from
        # then on, without reading their log again on every append.
        self._untraceable: set[str] = set()

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
        stamper: Stamper | None = None,
        on_stored: StoredHook | None = None,
    ) -> AppendResult:
        if stamper is not None:
            raise TypeError("TracingStore stamps envelopes itself; it takes no other stamper")
        created = False
        if not self.tracer.is_tracking(session_id) and session_id not in self._untraceable:
            # Once per session (or after a restart): the first appends wait for the
            # state to be rebuilt from the log, so none is stamped from nothing.
            async with self._tracking.hold(session_id):
                if not self.tracer.is_tracking(session_id) and session_id not in self._untraceable:
                    created = await self._track(session_id)
        try:
            result = await self.inner.append(
                session_id,
                events,
                expected_seq=expected_seq,
                stamper=self.tracer.stamper(session_id),  # None once finished: refused anyway
                on_stored=functools.partial(self._stored, session_id, on_stored),
            )
        except ReplaydeckError:
            if created:
                await self._discard(session_id)
            raise
        return dataclasses.replace(result, created=True) if created else result

    async def _discard(self, session_id: str) -> None:
        """Take back a session made for an append that was refused (a 409 stores nothing)."""
        self.tracer.forget(session_id)
        try:
            await self.inner.delete_session(session_id, only_if_empty=True)
        except Exception:
            # The refusal still stands; the session stays, empty, as POST /v1/sessions makes.
            log.exception("Could not remove the empty session %r of a refused append", session_id)

    def _stored(self, session_id: str, chained: StoredHook | None, result: AppendResult) -> None:
        if chained is not None:
            announce(chained, result)
        if not self.tracer.is_tracking(session_id):
            return
        try:
            self._trace(session_id, result)
        except Exception:
            # Tracing is a view of the log: a bug in it loses this session's spans, never
            # an append. The session is traced afresh from the log on its next append.
            log.exception("Tracing of session %r failed; its spans are dropped", session_id)
            self.tracer.forget(session_id)

    def _trace(self, session_id: str, result: AppendResult) -> None:
        backlog = self._backlog.get(session_id)
        if backlog is not None:
            backlog.append(result.appended)  # behind a catch-up still reading
        elif result.appended[0].seq <= self.tracer.last_seq(session_id) + 1:
            self.tracer.record(session_id, [e.as_dict() for e in result.appended])
        else:
            # Another process appended since this one last saw the session: read what
            # it stored, then feed the backlog, all in seq order.
            self._backlog[session_id] = [result.appended]
            task = asyncio.get_running_loop().create_task(self._catch_up(session_id))
            self._catching_up.add(task)
            task.add_done_callback(self._catching_up.discard)

    async def _catch_up(self, session_id: str) -> None:
        backlog = self._backlog[session_id]
        try:
            while backlog:
                appended = backlog.pop(0)
                if not self.tracer.is_tracking(session_id):
                    continue
                seen = self.tracer.last_seq(session_id)
                if appended[0].seq > seen + 1:
                    missed = await read_all(
                        self.inner,
                        session_id,
                        after=seen,
                        before=appended[0].seq,
                        page_size=self._page_size,
                    )
                    # Traced and exported by the process that stored them.
                    self.tracer.record(session_id, missed, export=False)
                self.tracer.record(session_id, [e.as_dict() for e in appended])
        except ReplaydeckError as e:
            # The database is away: the next append finds the gap and tries again.
            log.warning("Tracing of session %r could not catch up: %s", session_id, e.detail)
        except Exception:
            log.exception("Tracing of session %r failed; its spans are dropped", session_id)
            self.tracer.forget(session_id)
        finally:
            del self._backlog[session_id]

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
        try:
            self.tracer.track(session_info(record), prior)
        except Exception:
            # Its stored events cannot be traced: append untraced, never refuse.
            log.exception("Session %r cannot be traced; its events are stored untraced", session_id)
            self._untraceable.add(session_id)
        return created

    async def sweep(self) -> list[str]:
        """End the open spans of idle sessions as abandoned; return their ids.

        With several replicas, each that appended to a session holds it, so only the one
        that stored its last event may end it: ask the log whether a session went on
        elsewhere after what this process saw (its `final` stored by another replica,
        say), and if so forget it here, exporting nothing.
        """
        ended: list[str] = []
        for session_id, seq in self.tracer.idle().items():
            try:
                last_seq = (await self.inner.get_session(session_id)).last_seq
            except SessionNotFound:
                self.tracer.forget(session_id)
                continue
            except ReplaydeckError as e:
                # The database is away: look again at the next sweep.
                log.warning("Tracing could not check idle session %r: %s", session_id, e.detail)
                continue
            if last_seq > seq:
                self.tracer.drop(session_id, seq)
            elif self.tracer.abandon(session_id, seq):
                ended.append(session_id)
        return ended

    async def delete_session(self, session_id: str, *, only_if_empty: bool = False) -> None:
        await self.inner.delete_session(session_id, only_if_empty=only_if_empty)
        self.tracer.forget(session_id)
        self._untraceable.discard(session_id)

    async def get_session(self, session_id: str) -> SessionRecord:
        return await self.inner.get_session(session_id)

    async def delete_idle(
        self,
        *,
        older_than: timedelta,
        dry_run: bool = False,
        now: int | None = None,
        batch_size: int = 200,
        on_deleted: Callable[[str], None] | None = None,
    ) -> GcReport:
        def deleted(session_id: str) -> None:
            # Its open spans are not left to time out as abandoned.
            self.tracer.forget(session_id)
            self._untraceable.discard(session_id)
            if on_deleted is not None:
                on_deleted(session_id)

        return await self.inner.delete_idle(
            older_than=older_than,
            dry_run=dry_run,
            now=now,
            batch_size=batch_size,
            on_deleted=deleted,
        )

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

    async def count_types(self, session_ids: Sequence[str], types: Sequence[str]) -> dict[str, int]:
        return await self.inner.count_types(session_ids, types)

    async def read(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StoredEvent]:
        return await self.inner.read(session_id, after=after, limit=limit)

    async def read_rows(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[EventRow]:
        return await self.inner.read_rows(session_id, after=after, limit=limit, max_bytes=max_bytes)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        for task in self._catching_up:
            task.cancel()
        await asyncio.gather(*self._catching_up, return_exceptions=True)
        await self.inner.close()
