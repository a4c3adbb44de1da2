"""Group commit on SQLite: concurrent appends share a transaction, not their failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from app.errors import SeqConflict, SessionClosed
from app.store.base import AppendResult
from app.store.sql import SqlEventStore
from tests.store.contract import ev


def count_commits(store: SqlEventStore) -> list[int]:
    commits = [0]

    @event.listens_for(store.engine.sync_engine, "commit")
    def _on_commit(_connection: Any) -> None:
        commits[0] += 1

    return commits


@pytest.mark.anyio
async def test_concurrent_single_event_appends_share_one_commit(store: SqlEventStore) -> None:
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
async def test_one_refused_append_does_not_fail_its_batch(store: SqlEventStore) -> None:
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
async def test_a_repeated_id_in_the_same_batch_gets_the_first_seq(store: SqlEventStore) -> None:
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
async def test_a_cancelled_caller_does_not_cancel_the_others(store: SqlEventStore) -> None:
    first = asyncio.ensure_future(store.append("s", [ev(id="a")]))
    second = asyncio.ensure_future(store.append("s", [ev(id="b")]))
    await asyncio.sleep(0)  # ok: one loop turn, so both appends are queued
    first.cancel()
    assert (await second).seqs in ([1], [2])
    stored = [e.id for e in await store.read("s")]
    assert "b" in stored


@pytest.mark.anyio
async def test_an_append_whose_caller_left_is_still_reported(store: SqlEventStore) -> None:
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
