"""The tracing store wrapper under the real app: ids stamped before storage, in order."""

from __future__ import annotations

from collections import defaultdict

import anyio
import httpx
import pytest

from tests.tracing.tracing_helpers import ts


@pytest.mark.anyio
async def test_concurrent_appends_to_one_session_get_consistent_span_ids(
    client: httpx.AsyncClient,
) -> None:
    async def one_tool(i: int) -> None:
        batch = [
            {"type": "tool.call", "data": {"name": "f", "args": {}, "call_id": f"c{i}"}},
            {"type": "tool.result", "data": {"name": "f", "call_id": f"c{i}", "result": i}},
        ]
        response = await client.post("/v1/sessions/s-many/events", json=batch)
        assert response.status_code == 200

    async with anyio.create_task_group() as group:
        for i in range(20):
            group.start_soon(one_tool, i)
    events = (await client.get("/v1/sessions/s-many/events?limit=100")).json()["events"]
    by_call: dict[str, set[str]] = defaultdict(set)
    for event in events:
        by_call[event["data"]["call_id"]].add(event["span_id"])
    assert len(by_call) == 20
    assert all(len(ids) == 1 for ids in by_call.values())
    assert len({next(iter(ids)) for ids in by_call.values()}) == 20


@pytest.mark.anyio
async def test_repeated_ids_are_not_restamped_and_new_events_keep_their_spans(
    client: httpx.AsyncClient,
) -> None:
    call = {
        "id": "e1",
        "type": "tool.call",
        "data": {"name": "f", "args": {}, "call_id": "c"},
        "ts": ts(0),
    }
    result = {
        "id": "e2",
        "type": "tool.result",
        "data": {"name": "f", "call_id": "c", "result": 1},
        "ts": ts(250),
    }
    await client.post("/v1/sessions/s-retry/events", json=[call])
    # A retry of the call together with the new result: the store skips the repeat.
    response = await client.post("/v1/sessions/s-retry/events", json=[call, result])
    assert response.json()["seqs"] == [1, 2]
    events = (await client.get("/v1/sessions/s-retry/events")).json()["events"]
    assert events[0]["span_id"] == events[1]["span_id"]
    session = (await client.get("/v1/sessions/s-retry")).json()
    assert {e["trace_id"] for e in events} == {session["trace_id"]}


@pytest.mark.anyio
async def test_appends_after_final_are_still_refused(client: httpx.AsyncClient) -> None:
    await client.post("/v1/sessions/s-done/events", json=[{"type": "final", "data": {}}])
    response = await client.post(
        "/v1/sessions/s-done/events", json=[{"type": "status", "data": {"label": "late"}}]
    )
    assert response.status_code == 409
