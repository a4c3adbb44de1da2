"""The store contract on PostgreSQL, plus what only PostgreSQL does.

Several replicas share one database, so beside the contract this checks
writers on separate engines (separate pools, as on separate replicas), that a
watermark NOTIFY is sent only for committed appends, and that an unreachable
server becomes StoreUnavailable (a 503), never a raw driver error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import asyncpg
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from replaydeck.config import Settings
from replaydeck.errors import SessionClosed, StoreUnavailable
from replaydeck.live.pg_notify import listen_dsn
from replaydeck.store.backends import open_store
from replaydeck.store.engine import make_engine
from replaydeck.store.notices import CHANNEL, DELETED, decode_notice
from replaydeck.store.sql import SqlStore
from replaydeck.tracing.store import TracingStore
from tests.store.contract import BareStoreContract, TracedStoreContract, ev, traced
from tests.store.pg import pg_template, pg_url

pytestmark = pytest.mark.postgres
__all__ = ["pg_template", "pg_url"]


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[SqlStore]:
    store = open_store(make_engine(Settings(database_url=pg_url)))
    yield store
    await store.close()


class TestPostgresStore(BareStoreContract):
    pass


class TestTracedPostgresStore(TracedStoreContract):
    @pytest.fixture
    async def pair(self, pg_url: str) -> AsyncIterator[tuple[TracingStore, InMemorySpanExporter]]:
        store, exporter = traced(open_store(make_engine(Settings(database_url=pg_url))))
        yield store, exporter
        await store.close()


@pytest.mark.anyio
async def test_writers_on_separate_engines_keep_one_gapless_sequence(pg_url: str) -> None:
    replicas = [open_store(make_engine(Settings(database_url=pg_url))) for _ in range(2)]
    try:

        async def writer(n: int) -> list[int]:
            store = replicas[n % 2]
            seqs: list[int] = []
            for i in range(15):
                result = await store.append("shared", [ev(id=f"w{n}-{i}"), ev()])
                seqs.extend(result.seqs)
            return seqs

        per_writer = await asyncio.gather(*(writer(n) for n in range(8)))
        stored = await replicas[0].read("shared")
        assert [e.seq for e in stored] == list(range(1, 8 * 15 * 2 + 1))
        assert sorted(s for seqs in per_writer for s in seqs) == [e.seq for e in stored]
        # Each writer's events keep its own order.
        for seqs in per_writer:
            assert seqs == sorted(seqs)
    finally:
        for replica in replicas:
            await replica.close()


@pytest.mark.anyio
async def test_the_same_id_through_two_engines_is_stored_once(pg_url: str) -> None:
    a, b = (open_store(make_engine(Settings(database_url=pg_url))) for _ in range(2))
    try:
        results = await asyncio.gather(
            *(store.append("s", [ev(id="only-once")]) for store in (a, b, a, b))
        )
        assert {r.seqs[0] for r in results} == {1}
        assert [e.id for e in await b.read("s")] == ["only-once"]
    finally:
        await a.close()
        await b.close()


@pytest.mark.anyio
async def test_session_metadata_is_jsonb(store: SqlStore) -> None:
    async with store.engine.connect() as connection:
        column_type = await connection.scalar(
            sa.text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'sessions' AND column_name = 'metadata'"
            )
        )
    assert column_type == "jsonb"
    await store.create_session("m", metadata={"team": "search", "n": 1})
    page = await store.list_sessions(metadata={"team": "search"})
    assert [s.id for s in page.sessions] == ["m"]


@pytest.mark.anyio
async def test_notices_are_sent_on_commit_and_never_for_a_refused_append(
    pg_url: str, store: SqlStore
) -> None:
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(listen_dsn(pg_url))
    try:
        await listener.add_listener(CHANNEL, lambda *args: received.put_nowait(args[3]))
        await store.append("s", [ev(), ev("final", {})])
        with pytest.raises(SessionClosed):
            await store.append("s", [ev()])
        await store.delete_session("s")
        with anyio.fail_after(5):
            first = decode_notice(await received.get())
            second = decode_notice(await received.get())
        assert first is not None
        assert (first.session_id, first.last_seq) == ("s", 2)
        # The refused append sent nothing: the next notice is the delete.
        assert second is not None
        assert (second.session_id, second.last_seq) == ("s", DELETED)
        assert received.empty()
    finally:
        await listener.close()


@pytest.mark.anyio
async def test_an_unreachable_server_is_store_unavailable() -> None:
    # Port 1 on loopback refuses at once: asyncpg raises a bare OSError there.
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/test"
    store = open_store(make_engine(Settings(database_url=url)))
    try:
        with pytest.raises(StoreUnavailable):
            await store.append("s", [ev()])
        with pytest.raises(StoreUnavailable):
            await store.read("s")
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()


@pytest.mark.anyio
async def test_connections_killed_under_the_pool_recover(pg_url: str, store: SqlStore) -> None:
    await store.append("s", [ev()])
    # What a PostgreSQL restart does to every pooled connection.
    admin = await asyncpg.connect(listen_dsn(pg_url))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    # pool_pre_ping notices the dead connection and opens a new one.
    assert (await store.append("s", [ev()])).seqs == [2]
    assert [e.seq for e in await store.read("s")] == [1, 2]
