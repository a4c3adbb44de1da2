"""Group commit on SQLite: concurrent appends share a transaction, not their failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from replaydeck.config import Settings
from replaydeck.errors import SeqConflict, SessionClosed, StoreUnavailable
from replaydeck.store.backends import open_store
from replaydeck.store.base import AppendResult, SessionRecord
from replaydeck.store.engine import make_engine
from replaydeck.store.group_commit import AppendRequest, GroupCommitter, Outcomes
from replaydeck.store.migrate import upgrade
from replaydeck.store.sql import SqlStore
from tests.store.contract import ev


def count_commits(store: SqlStore) -> list[int]:
    commits = [0]

    @event.listens_for(store.engine.sync_engine, "commit")
    def _on_commit(_connection: Any) -> None:
        commits[0] += 1

    return commits


@pytest.mark.anyio
async def test_concurrent_single_event_appends_share_one_commit(store: SqlStore) -> None:
    commits = count_commits(store)
    results = await asyncio.gather(
        *(store.append(f"s{n % 4}", [ev(id=f"e{n}")]) for n in range(40))
    )
    # Queued while the first transaction ran: far fewer commits than appends.
    assert commits[0] <= 2
    for session in range(4):
        mine = [r for n, r in enumerate(results) if n % 4 == session]
        assert [r.seqs for r in mine] == [[k] for k in range(1, 11)]
        assert [r.created for r in mine] == [True] + [False] * 9
        stored = await store.read(f"s{session}")
        assert [e.id for e in stored] == [f"e{n}" for n in range(session, 40, 4)]
        assert (await store.get_session(f"s{session}")).last_seq == 10


@pytest.mark.anyio
async def test_one_refused_append_does_not_fail_its_batch(store: SqlStore) -> None:
    await store.append("done", [ev(), ev("final")])
    await store.append("guarded", [ev()])
    commits = count_commits(store)
    outcomes = await asyncio.gather(
        store.append("ok", [ev(id="a")]),
        store.append("done", [ev()]),
        store.append("guarded", [ev()], expected_seq=5),
        store.append("ok", [ev(id="b")]),
        store.append("guarded", [ev()], expected_seq=1),
        return_exceptions=True,
    )
    assert commits[0] <= 2
    assert isinstance(outcomes[1], SessionClosed)
    assert isinstance(outcomes[2], SeqConflict)
    assert [o.seqs for o in outcomes if not isinstance(o, BaseException)] == [[1], [2], [2]]
    assert [e.id for e in await store.read("ok")] == ["a", "b"]
    assert (await store.get_session("done")).last_seq == 2
    assert (await store.get_session("guarded")).last_seq == 2


@pytest.mark.anyio
async def test_a_repeated_id_in_the_same_batch_gets_the_first_seq(store: SqlStore) -> None:
    first, again, other = await asyncio.gather(
        store.append("s", [ev(id="x")]),
        store.append("s", [ev(id="x")]),
        store.append("s", [ev(id="y")]),
    )
    assert (first.seqs, again.seqs, other.seqs) == ([1], [1], [2])
    assert len(first.appended) == 1
    assert again.appended == []
    assert [e.id for e in await store.read("s")] == ["x", "y"]


@pytest.mark.anyio
async def test_a_cancelled_caller_does_not_cancel_the_others(store: SqlStore) -> None:
    first = asyncio.ensure_future(store.append("s", [ev(id="a")]))
    second = asyncio.ensure_future(store.append("s", [ev(id="b")]))
    await asyncio.sleep(0)  # ok: one loop turn, so both appends are queued
    first.cancel()
    assert (await second).seqs in ([1], [2])
    stored = [e.id for e in await store.read("s")]
    assert "b" in stored


@pytest.mark.anyio
async def test_an_append_whose_caller_left_is_still_reported(store: SqlStore) -> None:
    reported: list[str] = []

    def on_stored(result: AppendResult) -> None:
        reported.extend(e.id for e in result.appended)

    first = asyncio.ensure_future(store.append("s", [ev(id="a")], on_stored=on_stored))
    second = asyncio.ensure_future(store.append("s", [ev(id="b")], on_stored=on_stored))
    await asyncio.sleep(0)  # ok: one loop turn, so both appends are queued
    first.cancel()
    await second
    stored = [e.id for e in await store.read("s")]
    # The log and the reports agree, whether or not the cancelled one was written.
    assert reported == stored
    assert "b" in stored


Done = Callable[[Outcomes | BaseException], None]


class ManualWriter:
    """A writer the test drives: batches wait until the test reports their outcomes."""

    def __init__(self) -> None:
        self.batches: list[list[AppendRequest]] = []
        self.done: list[Done] = []

    def submit(self, batch: list[AppendRequest], done: Done) -> None:
        self.batches.append(batch)
        self.done.append(done)

    def finish(self, index: int) -> None:
        batch = self.batches[index]
        self.done[index]([AppendResult(record(r.session_id), [1], []) for r in batch])


def record(session_id: str) -> SessionRecord:
    return SessionRecord(id=session_id, created_at_us=0, metadata={}, status="open", last_seq=1)


@pytest.mark.anyio
async def test_batches_are_handed_over_without_waiting_for_a_loop_turn() -> None:
    writer = ManualWriter()
    committer = GroupCommitter(writer.submit)
    first = asyncio.ensure_future(committer.append("a", [ev()], None, 0))
    await asyncio.sleep(0)  # ok: one loop turn, so the first append has started
    # Handed over inside the append itself: no task had to run first.
    assert [[r.session_id for r in b] for b in writer.batches] == [["a"]]
    later = [asyncio.ensure_future(committer.append(s, [ev()], None, 0)) for s in "bcd"]
    await asyncio.sleep(0)  # ok: one loop turn, so the three are queued
    assert len(writer.batches) == 1  # they wait for the running transaction
    writer.finish(0)
    # The callback that settles a batch hands over the next: everything queued.
    assert [[r.session_id for r in b] for b in writer.batches] == [["a"], ["b", "c", "d"]]
    assert (await first).seqs == [1]
    writer.finish(1)
    assert [r.session.id for r in await asyncio.gather(*later)] == ["b", "c", "d"]


@pytest.mark.anyio
async def test_closing_drops_the_queue_waits_for_the_running_batch_and_refuses_more() -> None:
    writer = ManualWriter()
    committer = GroupCommitter(writer.submit)
    running = asyncio.ensure_future(committer.append("a", [ev()], None, 0))
    queued = asyncio.ensure_future(committer.append("b", [ev()], None, 0))
    await asyncio.sleep(0)  # ok: one loop turn, so both appends are in
    closing = asyncio.ensure_future(committer.close())
    await asyncio.sleep(0)  # ok: one loop turn, so close() is waiting
    assert not closing.done()  # the running transaction is not abandoned
    writer.finish(0)
    await closing
    assert (await running).seqs == [1]
    assert queued.cancelled()
    with pytest.raises(StoreUnavailable):
        await committer.append("c", [ev()], None, 0)


@pytest.mark.anyio
async def test_a_writer_that_cannot_take_a_batch_fails_it_with_its_error() -> None:
    def broken(
        batch: list[AppendRequest], done: Callable[[Outcomes | BaseException], None]
    ) -> None:
        raise StoreUnavailable("writer gone")

    committer = GroupCommitter(broken)
    with pytest.raises(StoreUnavailable, match="writer gone"):
        await committer.append("a", [ev()], None, 0)


@pytest.mark.anyio
async def test_a_stuck_writer_is_reported_by_ping_and_does_not_stop_shutdown(
    tmp_path: Path,
) -> None:
    engine = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/stuck.db"))
    await upgrade(engine)
    store = open_store(engine, writer_stall_s=0.05)
    await store.append("warm", [ev()])  # opens the writer
    assert store._group is not None

    def stuck(
        requests: list[AppendRequest], done: Callable[[Outcomes | BaseException], None]
    ) -> None:
        pass  # a writer that never reports back: a hung disk

    store._group._submit = stuck
    store._group._close_timeout = 0.2
    pending = asyncio.ensure_future(store.append("s", [ev()]))
    await store.ping()  # just started: not yet reported as stuck
    deadline = asyncio.get_running_loop().time() + 5
    while store._group.busy_for() <= 0.05:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)  # ok: polls the writer's busy time under a deadline
    with pytest.raises(StoreUnavailable, match="writing one batch"):
        await store.ping()
    await asyncio.wait_for(store.close(), timeout=5)
    pending.cancel()
