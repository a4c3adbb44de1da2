"""Group commit: appends that arrive while a transaction is running share the next one.

SQLite has one writer at a time, and each transaction costs a fixed round of
statements and thread hops whatever it holds. So concurrent appends (many
producers, one event each) queue here, and everything queued goes to the writer
in a single transaction, then whatever queued meanwhile in the next. Nobody
waits for a timer: a lone append is written at once, and batches grow only as
fast as appends pile up behind the running commit.

No task drives this, only callbacks: an append finding the writer idle hands it
the batch there and then, and the callback that brings a batch's outcomes back
to the loop settles them and hands over the next batch. A task would add a turn
of the event loop at each of those steps, and with a thousand live tails to
serve a turn can take milliseconds. Belonging to no request, the writing is
never cancelled by a client that disconnects.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from replaydeck.errors import ReplaydeckError, StoreUnavailable
from replaydeck.events import NewEvent
from replaydeck.store.base import (
    AppendResult,
    SessionRecord,
    StampDraft,
    Stamper,
    StoredHook,
    announce,
    stored_events,
)
from replaydeck.store.sequencing import Stamp
from replaydeck.store.tables import events, sessions


@dataclass(slots=True)
class AppendRequest:
    session_id: str
    events: Sequence[NewEvent]
    expected_seq: int | None
    received_us: int
    future: asyncio.Future[AppendResult] = field(repr=False)
    stamper: Stamper | None = None
    on_stored: StoredHook | None = None

    def settle(self, outcome: AppendResult | Exception) -> None:
        # First the hook, in commit order and whether or not the caller still waits.
        if self.on_stored is not None and isinstance(outcome, AppendResult) and outcome.appended:
            announce(self.on_stored, outcome)
        if self.future.done():  # the caller was cancelled; nothing to tell
            return
        if isinstance(outcome, Exception):
            self.future.set_exception(outcome)
        else:
            self.future.set_result(outcome)


log = logging.getLogger("replaydeck.store")

Outcomes = list[AppendResult | Exception]
# Starts writing a batch; calls back on the loop with one outcome per request, or
# with the exception that failed the batch as a whole.
Submit = Callable[[list[AppendRequest], Callable[[Outcomes | BaseException], None]], None]


class GroupCommitter:
    def __init__(
        self, submit: Submit, *, max_events: int = 5000, close_timeout: float = 30.0
    ) -> None:
        self._submit = submit
        self._max_events = max_events
        self._close_timeout = close_timeout
        self._queue: list[AppendRequest] = []
        self._writing = False
        # When the batch being written was handed over (monotonic), for readiness.
        self._writing_since = 0.0
        self._closed = False
        self._idle: asyncio.Future[None] | None = None

    async def append(
        self,
        session_id: str,
        events: Sequence[NewEvent],
        expected_seq: int | None,
        received_us: int,
        *,
        stamper: Stamper | None = None,
        on_stored: StoredHook | None = None,
    ) -> AppendResult:
        if self._closed:
            raise StoreUnavailable("The store is shutting down; nothing was stored. Retry.")
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.append(
            AppendRequest(session_id, events, expected_seq, received_us, future, stamper, on_stored)
        )
        if not self._writing:
            self._start()
        return await future

    def _take(self) -> list[AppendRequest]:
        """The next batch: queued requests in order, up to max_events (at least one)."""
        total, count = 0, 0
        for request in self._queue:
            total += len(request.events)
            if count and total > self._max_events:
                break
            count += 1
        batch, self._queue = self._queue[:count], self._queue[count:]
        return batch

    def busy_for(self) -> float:
        """Seconds the batch being written has taken so far (0 when idle)."""
        return time.monotonic() - self._writing_since if self._writing else 0.0

    def _start(self) -> None:
        batch = self._take()
        self._writing = True
        self._writing_since = time.monotonic()
        try:
            self._submit(batch, functools.partial(self._written, batch))
        except Exception as e:  # e.g. the writer is already closed
            self._written(batch, e)

    def _written(self, batch: list[AppendRequest], outcome: Outcomes | BaseException) -> None:
        """On the loop: settle the batch, then hand over the next one."""
        try:
            if isinstance(outcome, BaseException):
                error = outcome if isinstance(outcome, Exception) else StoreUnavailable()
                for request in batch:
                    request.settle(error)
            else:
                for request, result in zip(batch, outcome, strict=True):
                    request.settle(result)
        except Exception:
            # A bug here must not leave the writer marked busy: every later append
            # would queue behind it forever. Whoever is still waiting hears 503.
            log.exception("Settling a group commit failed; its waiting appends get 503")
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(StoreUnavailable())
        self._writing = False
        if self._queue and not self._closed:
            self._start()
        elif self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def close(self) -> None:
        """Refuse new appends, drop the queued ones, and wait for the batch being written."""
        self._closed = True
        for request in self._queue:
            request.future.cancel()
        self._queue = []
        if self._writing:
            self._idle = asyncio.get_running_loop().create_future()
            try:
                # Bounded, so a writer that hangs (a stuck disk) cannot stop shutdown.
                async with asyncio.timeout(self._close_timeout):
                    await self._idle
            except TimeoutError:
                log.error(
                    "The writer did not finish its batch within %.0f s; shutting down anyway",
                    self._close_timeout,
                )


# Built once: constructing statements per append cost more than running them.
# The id lists go in as one JSON array each (json_each), so the SQL text never
# changes with their length: one cached statement, and no bound-parameter limit.
def _in_json(column: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[bool]:
    values = sa.func.json_each(sa.bindparam(name)).table_valued("value")
    return column.in_(sa.select(values.c.value))


_SESSIONS_BY_ID = sa.select(sessions).where(_in_json(sessions.c.id, "ids"))
_KNOWN_IDS = sa.select(events.c.session_id, events.c.id, events.c.seq).where(
    _in_json(events.c.session_id, "sids"), _in_json(events.c.id, "eids")
)
# What a stamper has not seen of a session: the events another process stored after
# its seq (StampDraft.catch_up), read under the transaction's lock on the session.
_STORED_AFTER = (
    sa.select(events.c.seq, events.c.id, events.c.type, events.c.ts_us, events.c.envelope)
    .where(events.c.session_id == sa.bindparam("session_id"), events.c.seq > sa.bindparam("after"))
    .order_by(events.c.seq)
)


_UPDATE_SESSION = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("b_id"))
    .values(
        last_seq=sa.bindparam("b_last_seq"),
        first_ts_us=sa.bindparam("b_first_ts_us"),
        last_ts_us=sa.bindparam("b_last_ts_us"),
        status=sa.bindparam("b_status"),
        final_seq=sa.bindparam("b_final_seq"),
        # Carries the redaction count (metadata["redacted"]) of this batch.
        metadata=sa.bindparam("b_metadata"),
    )
)


def _json_list(values: Iterable[str]) -> str:
    return orjson.dumps(list(values)).decode()


@functools.cache
def _insert_events_sql(dialect: sa.Dialect) -> str:
    """The events INSERT, compiled from the Core table once, for rows given as tuples.

    Plain tuples go to the driver's executemany as they are: SQLAlchemy's per-row
    parameter processing (a dict per row, bind processors none of these columns
    need) cost more than SQLite's own insert (py-spy, bench 1).
    """
    columns = ("session_id", "seq", "id", "type", "ts_us", "envelope")
    compiled = events.insert().compile(dialect=dialect, column_keys=list(columns))
    assert tuple(compiled.positiontup or ()) == columns, "rows are built in this order"
    return str(compiled)


RowToRecord = Callable[[sa.Row[Any]], SessionRecord]
Assign = Callable[
    [SessionRecord, Sequence[NewEvent], dict[str, int], int, int | None, Stamp | None],
    AppendResult,
]


def write_batch(
    connection: sa.Connection,
    requests: Sequence[AppendRequest],
    *,
    assign: Assign,
    to_record: RowToRecord,
    drafts: dict[str, StampDraft],
) -> list[AppendResult | ReplaydeckError]:
    """Apply `requests` in order inside one open transaction; one outcome each.

    `drafts` collects each stamped session's draft; the caller commits them once
    the transaction has.

    Every rule (seq conflicts, appends after final, repeated ids) is checked in
    Python against the sessions' state as the earlier requests left it, so a
    refused request writes nothing and changes nothing for the others. The
    statements are a fixed handful whatever the batch holds: read the sessions
    and the already-known ids, insert the new sessions and events, update the
    sessions. Synchronous: it runs whole on the SQLite writer thread, one hop
    from the event loop per batch instead of one per statement.
    """
    ids = list(dict.fromkeys(r.session_id for r in requests))
    rows = connection.execute(_SESSIONS_BY_ID, {"ids": _json_list(ids)})
    state = {row.id: to_record(row) for row in rows}
    missing = set(ids) - state.keys()
    known: dict[str, dict[str, int]] = {sid: {} for sid in ids}
    wanted = {
        (r.session_id, e.id)
        for r in requests
        if r.session_id not in missing
        for e in r.events
        if e.id is not None
    }
    if wanted:
        params = {
            "sids": _json_list({sid for sid, _ in wanted}),
            "eids": _json_list({eid for _, eid in wanted}),
        }
        for row in connection.execute(_KNOWN_IDS, params):
            known[row.session_id][row.id] = row.seq

    outcomes: list[AppendResult | ReplaydeckError] = []
    created: dict[str, SessionRecord] = {}
    touched: dict[str, SessionRecord] = {}
    new_rows: list[tuple[Any, ...]] = []
    for r in requests:
        session = state.get(r.session_id) or SessionRecord(
            id=r.session_id,
            created_at_us=r.received_us,
            metadata={},
            status="open",
            last_seq=0,
        )
        stamp: Stamp | None = None
        if r.stamper is not None:
            draft = drafts.get(r.session_id)
            if draft is None:
                draft = drafts[r.session_id] = r.stamper.draft()
            if draft.seq < session.last_seq:
                # Another process appended since this stamper last saw the session.
                after = {"session_id": r.session_id, "after": draft.seq}
                draft.catch_up(stored_events(connection.execute(_STORED_AFTER, after)))
            stamp = draft.stamp
        try:
            result = assign(
                session, r.events, known[r.session_id], r.received_us, r.expected_seq, stamp
            )
        except ReplaydeckError as e:
            outcomes.append(e)
            continue
        is_new = r.session_id in missing and r.session_id not in created
        if is_new:
            created[r.session_id] = session
        state[r.session_id] = result.session
        for event in result.appended:
            known[r.session_id][event.id] = event.seq
            new_rows.append(
                (r.session_id, event.seq, event.id, event.type, event.ts_us, event.envelope)
            )
        if result.appended:
            touched[r.session_id] = result.session
        outcomes.append(AppendResult(result.session, result.seqs, result.appended, created=is_new))

    if created:
        connection.execute(
            sessions.insert(),
            [
                {
                    "id": s.id,
                    "created_at_us": s.created_at_us,
                    "metadata": {},
                    "status": "open",
                    "last_seq": 0,
                }
                for s in created.values()
            ],
        )
    if new_rows:
        connection.exec_driver_sql(_insert_events_sql(connection.dialect), new_rows)
    if touched:
        connection.execute(
            _UPDATE_SESSION,
            [
                {
                    "b_id": s.id,
                    "b_last_seq": s.last_seq,
                    "b_first_ts_us": s.first_ts_us,
                    "b_last_ts_us": s.last_ts_us,
                    "b_status": s.status,
                    "b_final_seq": s.final_seq,
                    "b_metadata": s.metadata,
                }
                for s in touched.values()
            ],
        )
    return outcomes
