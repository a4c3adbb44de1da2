"""The store contract: every EventStore implementation must pass these tests.

A backend's test module subclasses `StoreContract` and provides an async
`store` fixture yielding a fresh, migrated, empty store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from replaydeck.errors import SeqConflict, SessionClosed, SessionExists, SessionNotFound
from replaydeck.events import NewEvent, validate_event
from replaydeck.store.base import AppendResult, EventStore, StoredEvent
from replaydeck.tracing.store import TracingStore
from replaydeck.tracing.tracer import SessionTracer


class CountingStamper:
    """Stamps each envelope with how many events of the session were committed before."""

    def __init__(self) -> None:
        self.committed = 0
        # The seqs of events other writers stored, as the store fed them to drafts.
        self.caught_up: list[int] = []

    def draft(self) -> CountingDraft:
        return CountingDraft(self)


class CountingDraft:
    def __init__(self, owner: CountingStamper) -> None:
        self.owner = owner
        self.count = owner.committed
        self.caught_up: list[int] = []

    @property
    def seq(self) -> int:
        return self.count

    def catch_up(self, stored: Sequence[StoredEvent]) -> None:
        self.caught_up.extend(e.seq for e in stored)
        self.count = stored[-1].seq

    def stamp(self, event_id: str, event: NewEvent) -> dict[str, Any]:
        self.count += 1
        return {"n": self.count}

    def commit(self) -> None:
        self.owner.committed = self.count
        self.owner.caught_up.extend(self.caught_up)


def ev(kind: str = "status", data: dict[str, Any] | None = None, **fields: Any) -> NewEvent:
    if data is None:
        data = {"label": "x"} if kind == "status" else {}
    return validate_event({"type": kind, "data": data, **fields}, max_bytes=1 << 20)


async def cancel_at_every_await(start: Callable[[int], Awaitable[None]], turns: int = 40) -> None:
    """Start `start(n)` and cancel it after n loop turns, for n in 0..turns-1, so some
    are cancelled at every await of what it does: before, during and after a commit."""
    for n in range(turns):
        task = asyncio.ensure_future(start(n))
        for _ in range(n):
            await asyncio.sleep(0)  # ok: one loop turn, to cancel at a chosen await
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.anyio
class StoreContract:
    """What every store the app can use keeps: each backend, bare and traced."""

    async def test_append_assigns_gapless_seqs_from_one(self, store: EventStore) -> None:
        first = await store.append("s", [ev(), ev()])
        second = await store.append("s", [ev()])
        assert first.seqs == [1, 2]
        assert second.seqs == [3]
        assert [e.seq for e in await store.read("s")] == [1, 2, 3]

    async def test_append_creates_the_session(self, store: EventStore) -> None:
        result = await store.append("new", [ev()])
        assert result.created
        session = await store.get_session("new")
        assert session.status == "open"
        assert session.last_seq == 1
        assert not (await store.append("new", [ev()])).created

    async def test_read_after_and_limit(self, store: EventStore) -> None:
        await store.append("s", [ev() for _ in range(10)])
        assert [e.seq for e in await store.read("s", after=3, limit=4)] == [4, 5, 6, 7]
        assert await store.read("s", after=10) == []
        assert await store.read("unknown") == []

    async def test_read_rows_are_the_events_read_returns_as_tuples(self, store: EventStore) -> None:
        await store.append("s", [ev(), ev("custom.tick"), ev("final")])
        expected = [(e.seq, e.type, e.ts_us, e.envelope) for e in await store.read("s")]
        rows = await store.read_rows("s")
        assert [tuple(row) for row in rows] == expected
        assert all(isinstance(row[3], bytes) for row in rows)
        assert [tuple(r) for r in await store.read_rows("s", after=1, limit=1)] == expected[1:2]
        assert [tuple(r) for r in await store.read_rows("s", after=1)] == expected[1:]
        assert await store.read_rows("s", after=3) == []
        assert await store.read_rows("unknown") == []

    async def test_read_rows_end_at_a_byte_budget_with_the_event_that_crosses_it(
        self, store: EventStore
    ) -> None:
        await store.append("s", [ev("status", {"label": "x" * 1000}) for _ in range(10)])
        sizes = [len(row[3]) for row in await store.read_rows("s")]
        # The budget reached inside the third event: the page ends with it.
        budget = sizes[0] + sizes[1] + 10
        assert [r[0] for r in await store.read_rows("s", limit=8, max_bytes=budget)] == [1, 2, 3]
        # Taken from `after`, and the count still bounds the page.
        assert [r[0] for r in await store.read_rows("s", after=7, max_bytes=budget)] == [8, 9, 10]
        assert [r[0] for r in await store.read_rows("s", limit=2, max_bytes=10**9)] == [1, 2]
        # The first event is always in it, however small the budget.
        assert [r[0] for r in await store.read_rows("s", after=4, limit=8, max_bytes=1)] == [5]
        assert await store.read_rows("s", after=10, limit=8, max_bytes=1) == []

    async def test_envelope_carries_seq_id_type_ts_offset_and_data(self, store: EventStore) -> None:
        await store.append(
            "s",
            [
                ev("status", {"label": "a"}, id="e1", ts="2026-11-23T10:00:00Z"),
                ev("tool.call", {"name": "t", "args": {}, "call_id": "c"}, ts=1795428001250),
            ],
        )
        # A traced store adds its span's ids; the rest is every store's.
        first, second = (
            {k: v for k, v in e.as_dict().items() if k not in ("trace_id", "span_id")}
            for e in await store.read("s")
        )
        assert first == {
            "seq": 1,
            "id": "e1",
            "type": "status",
            "ts": "2026-11-23T10:00:00.000000Z",
            "offset_ms": 0.0,
            "data": {"label": "a"},
        }
        assert second["ts"] == "2026-11-23T10:00:01.250000Z"
        assert second["offset_ms"] == 1250.0
        assert second["id"]  # generated
        assert second["data"] == {"name": "t", "args": {}, "call_id": "c"}

    async def test_repeated_ids_return_the_original_seq_and_store_nothing(
        self, store: EventStore
    ) -> None:
        await store.append("s", [ev(id="a"), ev(id="b")])
        again = await store.append("s", [ev(id="b"), ev(id="c"), ev(id="c")])
        assert again.seqs == [2, 3, 3]
        assert [e.id for e in again.appended] == ["c"]
        assert [e.id for e in await store.read("s")] == ["a", "b", "c"]

    async def test_final_completes_the_session_and_refuses_more(self, store: EventStore) -> None:
        await store.append("s", [ev(), ev("final", id="fin")])
        session = await store.get_session("s")
        assert (session.status, session.final_seq) == ("complete", 2)
        with pytest.raises(SessionClosed):
            await store.append("s", [ev()])
        # A retried final is a repeat, not a refusal.
        assert (await store.append("s", [ev("final", id="fin")])).seqs == [2]

    async def test_events_after_final_in_one_batch_refuse_the_whole_batch(
        self, store: EventStore
    ) -> None:
        await store.append("s", [ev()])
        with pytest.raises(SessionClosed):
            await store.append("s", [ev(), ev("final"), ev()])
        assert [e.seq for e in await store.read("s")] == [1]
        assert (await store.get_session("s")).status == "open"

    async def test_expected_seq_guards_the_append(self, store: EventStore) -> None:
        await store.append("s", [ev()])
        assert (await store.append("s", [ev()], expected_seq=1)).seqs == [2]
        with pytest.raises(SeqConflict):
            await store.append("s", [ev()], expected_seq=1)
        assert (await store.get_session("s")).last_seq == 2

    async def test_a_retried_guarded_append_gets_its_original_seqs(self, store: EventStore) -> None:
        await store.append("s", [ev(id="a")])
        first = await store.append("s", [ev(id="b"), ev(id="c")], expected_seq=1)
        # The response was lost; the producer retries with the same If-Match.
        again = await store.append("s", [ev(id="b"), ev(id="c")], expected_seq=1)
        assert again.seqs == first.seqs == [2, 3]
        assert again.appended == []
        with pytest.raises(SeqConflict):
            await store.append("s", [ev(id="b"), ev(id="new")], expected_seq=1)

    async def test_create_get_delete(self, store: EventStore) -> None:
        created = await store.create_session("c", metadata={"user": "alice"})
        assert created.metadata == {"user": "alice"}
        with pytest.raises(SessionExists):
            await store.create_session("c")
        await store.append("c", [ev()])
        await store.delete_session("c")
        with pytest.raises(SessionNotFound):
            await store.get_session("c")
        assert await store.read("c") == []
        with pytest.raises(SessionNotFound):
            await store.delete_session("c")

    async def test_metadata_filters_name_any_key(self, store: EventStore) -> None:
        keys = ['a"b', '"', "a\\b", "a.b", "a[0]", "$", "a b", "\u00e9"]
        for index, key in enumerate(keys):
            await store.create_session(f"s{index}", metadata={key: "v", "n": 7})
        for index, key in enumerate(keys):
            found = await store.list_sessions(metadata={key: "v"})
            assert [s.id for s in found.sessions] == [f"s{index}"], key
            assert (await store.list_sessions(metadata={key: "w"})).sessions == []
        numbers = await store.list_sessions(metadata={"n": "7", 'a"b': "v"})
        assert [s.id for s in numbers.sessions] == ["s0"]

    async def test_metadata_filters_read_values_as_json_writes_them(
        self, store: EventStore
    ) -> None:
        await store.create_session("yes", metadata={"flag": True, "x": 1.5, "none": None})
        await store.create_session("no", metadata={"flag": False, "x": 1})

        async def ids(key: str, value: str) -> list[str]:
            return [s.id for s in (await store.list_sessions(metadata={key: value})).sessions]

        assert await ids("flag", "true") == ["yes"]
        assert await ids("flag", "false") == ["no"]
        assert await ids("flag", "1") == []  # true is not the number 1
        assert await ids("x", "1.5") == ["yes"]
        assert await ids("x", "1") == ["no"]
        assert await ids("none", "null") == []  # null is no value

    async def test_delete_only_if_empty_keeps_a_session_with_events(
        self, store: EventStore
    ) -> None:
        await store.create_session("empty")
        await store.append("full", [ev()])
        await store.delete_session("empty", only_if_empty=True)
        await store.delete_session("full", only_if_empty=True)
        await store.delete_session("unknown", only_if_empty=True)
        with pytest.raises(SessionNotFound):
            await store.get_session("empty")
        assert (await store.get_session("full")).last_seq == 1

    async def test_list_newest_first_with_cursor_and_filters(self, store: EventStore) -> None:
        for index in range(5):
            await store.create_session(f"s{index}", metadata={"team": "a" if index % 2 else "b"})
        await store.append("s4", [ev("final")])
        page = await store.list_sessions(limit=2)
        assert [s.id for s in page.sessions] == ["s4", "s3"]
        assert page.next_cursor is not None
        rest = await store.list_sessions(limit=10, cursor=page.next_cursor)
        assert [s.id for s in rest.sessions] == ["s2", "s1", "s0"]
        assert rest.next_cursor is None
        assert [s.id for s in (await store.list_sessions(status="complete")).sessions] == ["s4"]
        team_a = await store.list_sessions(metadata={"team": "a"})
        assert [s.id for s in team_a.sessions] == ["s3", "s1"]

    async def test_count_types_per_session(self, store: EventStore) -> None:
        def error(id: str) -> NewEvent:
            return ev("error", {"message": "failed"}, id=id)

        await store.append("a", [error("1"), ev(id="2"), error("3")])
        await store.append("b", [ev(id="1")])
        await store.append("c", [error("1")])
        ids = ["a", "b", "c", "unknown"]
        assert await store.count_types(ids, ["error"]) == {"a": 2, "c": 1}
        assert await store.count_types(ids, ["error", "status"]) == {"a": 3, "b": 1, "c": 1}
        assert await store.count_types([], ["error"]) == {}

    async def test_concurrent_writers_keep_seq_gapless_and_ordered(self, store: EventStore) -> None:
        async def writer(number: int) -> list[int]:
            seqs: list[int] = []
            for index in range(10):
                result = await store.append(
                    "s", [ev(id=f"w{number}-{index}-{k}") for k in range(3)]
                )
                assert result.seqs == sorted(result.seqs)
                assert result.seqs == list(range(result.seqs[0], result.seqs[0] + 3))
                seqs.extend(result.seqs)
            return seqs

        results = await asyncio.gather(*(writer(n) for n in range(16)))
        stored = await store.read("s")
        assert [e.seq for e in stored] == list(range(1, 16 * 30 + 1))
        assert sorted(s for seqs in results for s in seqs) == list(range(1, 16 * 30 + 1))
        # Each writer's own events are in the order it sent them.
        for number in range(16):
            mine = [e.id for e in stored if e.id.startswith(f"w{number}-")]
            assert mine == [f"w{number}-{i}-{k}" for i in range(10) for k in range(3)]

    async def test_a_thousand_events_in_one_append_keep_their_order(
        self, store: EventStore
    ) -> None:
        result = await store.append("s", [ev(id=f"e{i}") for i in range(1000)])
        assert result.seqs == list(range(1, 1001))
        assert [e.id for e in await store.read("s")] == [f"e{i}" for i in range(1000)]

    async def test_ping(self, store: EventStore) -> None:
        await store.ping()

    async def test_a_failing_on_stored_consumer_fails_no_append(
        self, store: EventStore, caplog: pytest.LogCaptureFixture
    ) -> None:
        def broken(result: AppendResult) -> None:
            raise ValueError("a consumer's bug")

        # Concurrent, so on SQLite they share group commits with the broken hook.
        results = await asyncio.wait_for(
            asyncio.gather(
                *(store.append(f"s{n}", [ev(id="a")], on_stored=broken) for n in range(8))
            ),
            timeout=10,
        )
        assert [r.seqs for r in results] == [[1]] * 8
        # The writer keeps serving, and the append really was stored once.
        again = await asyncio.wait_for(store.append("s0", [ev(id="a"), ev(id="b")]), timeout=10)
        assert again.seqs == [1, 2]
        assert [e.id for e in await store.read("s0")] == ["a", "b"]
        assert "a consumer's bug" in caplog.text
        await store.ping()

    @pytest.mark.parametrize(
        ("ts", "expected"),
        [
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
            ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000000Z"),
            ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500000Z"),
            ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
            ("0001-01-01T14:00:00+14:00", "0001-01-01T00:00:00.000000Z"),
        ],
    )
    async def test_timestamps_of_every_accepted_year_round_trip(
        self, store: EventStore, ts: str, expected: str
    ) -> None:
        await store.append("s", [ev(ts=ts)])
        (stored,) = await store.read("s")
        assert stored.as_dict()["ts"] == expected
        assert (await store.append("s", [ev()])).seqs == [2]

    async def test_every_committed_append_is_announced_whatever_happens_to_its_caller(
        self, store: EventStore
    ) -> None:
        # Each caller is cancelled after a different number of loop turns, so some are
        # cancelled at every await of an append: before, during and after the commit.
        announced: list[int] = []

        def on_stored(result: AppendResult) -> None:
            announced.extend(e.seq for e in result.appended)

        async def append(n: int) -> None:
            await store.append("s", [ev(id=f"e{n}")], on_stored=on_stored)

        await append(-1)  # the session exists (and a traced one is tracked) before the cuts
        await cancel_at_every_await(append)
        # The appends still in flight finish on their own; one more append waits behind them.
        await asyncio.wait_for(store.append("s", [ev(id="last")], on_stored=on_stored), 10)
        stored = [e.seq for e in await store.read("s")]
        assert sorted(announced) == stored
        assert stored == list(range(1, len(stored) + 1))
        assert len(stored) > 1


@pytest.mark.anyio
class BareStoreContract(StoreContract):
    """What a backend keeps for the stamper the tracing wrapper gives it."""

    async def test_concurrent_appends_are_stamped_and_reported_in_commit_order(
        self, store: EventStore
    ) -> None:
        stamper = CountingStamper()
        reported: list[list[int]] = []

        def on_stored(result: AppendResult) -> None:
            reported.append([e.seq for e in result.appended])

        async def writer(number: int) -> None:
            for index in range(5):
                events = [ev(id=f"w{number}-{index}-{k}") for k in range(2)]
                await store.append("s", events, stamper=stamper, on_stored=on_stored)

        await asyncio.gather(*(writer(n) for n in range(12)))
        stored = await store.read("s")
        # Every stamp saw exactly the events committed before it, in seq order.
        assert [e.as_dict()["n"] for e in stored] == [e.seq for e in stored]
        assert stamper.committed == 120
        assert [seq for seqs in reported for seq in seqs] == list(range(1, 121))

    async def test_refused_appends_and_repeats_are_neither_stamped_nor_reported(
        self, store: EventStore
    ) -> None:
        stamper = CountingStamper()
        reported: list[int] = []

        async def append(events: list[NewEvent], expected_seq: int | None = None) -> None:
            await store.append(
                "s",
                events,
                expected_seq=expected_seq,
                stamper=stamper,
                on_stored=lambda r: reported.extend(e.seq for e in r.appended),
            )

        await append([ev(id="a"), ev(id="b")])
        await append([ev(id="a"), ev(id="c")])  # a repeat and one new event
        await append([ev(id="b")])  # only a repeat: nothing stored, nothing reported
        with pytest.raises(SeqConflict):
            await append([ev(id="d")], expected_seq=1)
        await append([ev(id="e"), ev("final", id="f")])
        with pytest.raises(SessionClosed):
            await append([ev(id="g")])
        stored = await store.read("s")
        assert [(e.id, e.as_dict()["n"]) for e in stored] == [
            ("a", 1),
            ("b", 2),
            ("c", 3),
            ("e", 4),
            ("f", 5),
        ]
        assert reported == [1, 2, 3, 4, 5]
        assert stamper.committed == 5

    async def test_a_stamper_first_sees_what_other_writers_stored(self, store: EventStore) -> None:
        # Another replica appends to the same session with a stamper of its own (here
        # none): before stamping, this one is fed what it has not seen, in seq order.
        stamper = CountingStamper()
        await store.append("s", [ev(), ev()], stamper=stamper)
        await store.append("s", [ev(), ev("tool.call", {"name": "f", "args": {}, "call_id": "c"})])
        await store.append("s", [ev()])
        await store.append("s", [ev(), ev()], stamper=stamper)
        await store.append("s", [ev()], stamper=stamper)
        stored = await store.read("s")
        assert [e.as_dict().get("n") for e in stored] == [1, 2, None, None, None, 6, 7, 8]
        assert stamper.caught_up == [3, 4, 5]
        assert stamper.committed == 8

    async def test_a_failing_stamp_commit_stores_the_events_once(self, store: EventStore) -> None:
        class BrokenCommit(CountingDraft):
            def commit(self) -> None:
                raise RuntimeError("a stamper's bug")

        class BrokenStamper(CountingStamper):
            def draft(self) -> CountingDraft:
                return BrokenCommit(self)

        result = await asyncio.wait_for(
            store.append("s", [ev(), ev()], stamper=BrokenStamper()), timeout=10
        )
        assert result.seqs == [1, 2]
        assert [e.seq for e in await store.read("s")] == [1, 2]
        assert (await store.append("s", [ev()])).seqs == [3]


def traced(inner: EventStore) -> tuple[TracingStore, InMemorySpanExporter]:
    """`inner` wrapped as the app wraps it, exporting to memory."""
    exporter = InMemorySpanExporter()
    return TracingStore(inner, SessionTracer(SimpleSpanProcessor(exporter))), exporter


@pytest.mark.anyio
class TracedStoreContract(StoreContract):
    """The store the app uses: the backend under the tracing wrapper. The module
    provides `pair`: the TracingStore and the exporter of its spans."""

    @pytest.fixture
    def store(self, pair: tuple[TracingStore, InMemorySpanExporter]) -> TracingStore:
        return pair[0]

    @pytest.fixture
    def exporter(self, pair: tuple[TracingStore, InMemorySpanExporter]) -> InMemorySpanExporter:
        return pair[1]

    async def test_every_committed_tool_call_is_traced_whatever_happens_to_its_caller(
        self, store: TracingStore, exporter: InMemorySpanExporter
    ) -> None:
        async def call(n: int) -> None:
            tool = {"name": "t", "call_id": f"c{n}"}
            events = [
                ev("tool.call", {**tool, "args": {}}),
                ev("tool.result", {**tool, "result": n}),
            ]
            await store.append("s", events)

        await call(-1)  # tracked before the cuts
        await cancel_at_every_await(call)
        await asyncio.wait_for(store.append("s", [ev("final", {})]), 10)
        stored = await store.read("s")
        calls = sum(1 for e in stored if e.type == "tool.call")
        assert calls > 1
        tools = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
        assert len(tools) == calls
        assert len({s.context.span_id for s in tools if s.context is not None}) == calls

    async def test_after_a_restart_spans_go_on_with_the_stamps_in_the_log(
        self, store: TracingStore, exporter: InMemorySpanExporter
    ) -> None:
        m, tool = {"message_id": "m"}, {"name": "t", "call_id": "c"}
        await store.append("s", [ev("message.delta", {**m, "text": "a"})])
        await store.append("s", [ev("tool.call", {**tool, "args": {}})])
        # A new process over the same log: it rebuilds the session from the stamped events.
        again, exported = traced(store.inner)
        await again.append("s", [ev("tool.result", {**tool, "result": 1})])
        await again.append("s", [ev("message.delta", {**m, "text": "b"})])
        await again.append("s", [ev("tool.call", {**tool, "args": {}})])
        await again.append("s", [ev("tool.result", {**tool, "result": 2}), ev("final", {})])
        stamps = [e.as_dict()["span_id"] for e in await again.read("s")]
        first_message, first_tool, _, second_message, second_tool, _, root = stamps
        assert (stamps[2], stamps[5]) == (first_tool, second_tool)
        assert len({first_message, first_tool, second_message, second_tool, root}) == 5
        spans = {format(s.context.span_id, "016x"): s.name for s in exported.get_finished_spans()}
        assert spans == {
            first_tool: "execute_tool t",
            second_message: "message m",
            second_tool: "execute_tool t",
            root: "invoke_agent s",
        }
        (before,) = exporter.get_finished_spans()
        assert (format(before.context.span_id, "016x"), before.name) == (first_message, "message m")
