"""Optimistic concurrency: `If-Match: <seq>` appends only if the session ends there.

Racing writers on a real server: of those that expect the same seq, exactly
one wins and the rest get 409 seq-conflict. A hypothesis state machine then
drives random appends (with and without If-Match, repeated ids, batches with
duplicates, `final`) and checks every answer and the log against a model.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.reliability.soak import size
from tests.servers import RunningServer

ROUNDS = size(30, 300)
RACERS = size(8, 32)


async def race(
    client: httpx.AsyncClient,
    session: str,
    expected: int,
    racer: int,
    responses: list[httpx.Response],
) -> None:
    response = await client.post(
        f"/v1/sessions/{session}/events",
        json={"type": "status", "data": {"label": f"r{expected} by {racer}"}},
        headers={"If-Match": str(expected)},
    )
    responses.append(response)


@pytest.mark.anyio
async def test_racing_writers_exactly_one_wins(server: RunningServer) -> None:
    session = "race"
    wins = conflicts = 0
    clients = [httpx.AsyncClient(base_url=server.url, timeout=30) for _ in range(RACERS)]
    try:
        for round_ in range(ROUNDS):
            responses: list[httpx.Response] = []
            async with anyio.create_task_group() as group:
                for racer, client in enumerate(clients):
                    group.start_soon(race, client, session, round_, racer, responses)
            statuses = [r.status_code for r in responses]
            bodies = [r.json() for r in responses]
            assert sorted(statuses) == [200] + [409] * (RACERS - 1), statuses
            winner = next(b for b in bodies if "seqs" in b)
            assert winner["seqs"] == [round_ + 1]
            for body in bodies:
                if "seqs" not in body:
                    assert body["type"] == "urn:replaydeck:problem:seq-conflict"
                    assert body["last_seq"] == round_ + 1
                    assert "Read the new events and retry" in body["detail"]
            wins += 1
            conflicts += RACERS - 1
        log = (await clients[0].get(f"/v1/sessions/{session}/events?limit=1000")).json()
        assert [e["seq"] for e in log["events"]] == list(range(1, ROUNDS + 1))
    finally:
        for client in clients:
            await client.aclose()
    print(f"\n[occ] {ROUNDS} rounds x {RACERS} racers: {wins} wins, {conflicts} 409s, 0 double")


# Few ids, so that repeats (idempotent no-ops) happen often.
event_ids = st.one_of(st.none(), st.sampled_from([f"e{i}" for i in range(8)]))


class LogMachine(RuleBasedStateMachine):
    """The model: last seq, id -> seq, closed after final."""

    client: httpx.Client

    def __init__(self) -> None:
        super().__init__()
        self.session = "m-" + uuid.uuid4().hex[:12]
        self.last_seq = 0
        self.seq_of: dict[str, int] = {}
        self.final_seq: int | None = None
        self.log_ids: list[str | None] = []

    def post(self, batch: list[dict[str, Any]], expected: int | None) -> httpx.Response:
        headers = {} if expected is None else {"If-Match": str(expected)}
        return self.client.post(f"/v1/sessions/{self.session}/events", json=batch, headers=headers)

    def predict(self, ids: list[str | None], expected: int | None) -> tuple[int, Any]:
        """(status, seqs or problem slug) by the rules of DESIGN.md.

        A stale If-Match is a conflict, unless every event is a repeat: that is
        the retry of an append that committed, and it gets the original seqs.
        """
        all_repeats = all(i is not None and i in self.seq_of for i in ids)
        if expected is not None and expected != self.last_seq and not all_repeats:
            return 409, "seq-conflict"
        seen = dict(self.seq_of)
        seq = self.last_seq
        seqs: list[int] = []
        for event_id in ids:
            if event_id is not None and event_id in seen:
                seqs.append(seen[event_id])
                continue
            if self.final_seq is not None:
                return 409, "session-closed"
            seq += 1
            if event_id is not None:
                seen[event_id] = seq
            seqs.append(seq)
        return 200, seqs

    @rule(
        ids=st.lists(event_ids, min_size=1, max_size=4),
        expect=st.sampled_from(["none", "right", "behind", "ahead"]),
        final=st.booleans(),
    )
    def append(self, ids: list[str | None], expect: str, final: bool) -> None:
        expected = {
            "none": None,
            "right": self.last_seq,
            "behind": max(self.last_seq - 1, 0) if self.last_seq else None,
            "ahead": self.last_seq + 1,
        }[expect]
        if expect == "behind" and expected == self.last_seq:
            expected = None
        batch: list[dict[str, Any]] = [
            {"type": "status", "data": {"label": "x"}, **({"id": i} if i else {})} for i in ids
        ]
        if final:
            batch[-1]["type"] = "final"
            batch[-1]["data"] = {}
        status, outcome = self.predict(ids, expected)
        response = self.post(batch, expected)
        assert response.status_code == status, (response.text, ids, expected)
        if status != 200:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"] == f"urn:replaydeck:problem:{outcome}"
            return
        body = response.json()
        assert body["seqs"] == outcome
        for event_id, seq, event in zip(ids, outcome, batch, strict=True):
            if seq > self.last_seq:
                self.last_seq = seq
                self.log_ids.append(event_id)
                if event_id is not None:
                    self.seq_of[event_id] = seq
                if event["type"] == "final":
                    self.final_seq = seq
        assert body["last_seq"] == self.last_seq

    @invariant()
    def log_matches_model(self) -> None:
        if self.last_seq == 0:
            return
        response = self.client.get(f"/v1/sessions/{self.session}/events?limit=1000")
        events = response.json()["events"]
        assert [e["seq"] for e in events] == list(range(1, self.last_seq + 1))
        for event, model_id in zip(events, self.log_ids, strict=True):
            if model_id is not None:
                assert event["id"] == model_id
        session = self.client.get(f"/v1/sessions/{self.session}").json()
        assert session["status"] == ("complete" if self.final_seq else "open")


@pytest.fixture
def sync_client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_appends_follow_the_model(sync_client: httpx.Client) -> None:
    LogMachine.client = sync_client
    run_state_machine_as_test(
        LogMachine,
        settings=hypothesis_settings(
            max_examples=size(25, 500), stateful_step_count=10, deadline=None
        ),
    )
