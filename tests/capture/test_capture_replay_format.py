"""`/replay?format=`: a captured session plays back in its own protocol, event for event."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from replaydeck.formats import make_decoder
from replaydeck.formats.sse import parse_all

pytestmark = pytest.mark.anyio
SAMPLES = Path(__file__).parent / "samples"
FILES = {
    "openai-responses": "openai_responses.sse",
    "openai-chat": "openai_chat.sse",
    "vercel-ai": "vercel_ai.sse",
    "ag-ui": "ag_ui.sse",
}


@pytest.mark.parametrize("fmt", FILES)
async def test_a_captured_session_replays_in_its_own_format(
    client: httpx.AsyncClient, fmt: str
) -> None:
    original = parse_all((SAMPLES / FILES[fmt]).read_bytes())
    decoder = make_decoder(fmt)
    events = [{"type": e.type, "data": e.data} for frame in original for e in decoder.decode(frame)]
    if decoder.ends_turns:
        # The call's end is a turn's; the capture ends its run of one call after it.
        events.append({"type": "final", "data": {"reason": "complete", "turns": 1}})
    response = await client.post(f"/v1/sessions/{fmt}/events", json=events)
    assert response.status_code == 200, response.text

    replay = await client.get(f"/v1/sessions/{fmt}/replay", params={"speed": "max", "format": fmt})
    assert replay.status_code == 200
    assert replay.headers["content-type"].startswith("text/event-stream")
    played = parse_all(replay.content)
    assert [(f.event, f.data) for f in played] == [(f.event, f.data) for f in original]
    # Each frame carries its seq, or `<seq>.<k>` inside a group of frames one event
    # became, so Last-Event-ID resumption works in any format.
    assert all(f.id is not None and f.id.replace(".", "", 1).isdigit() for f in played)


async def test_a_plain_session_is_synthesised_into_another_format(
    client: httpx.AsyncClient,
) -> None:
    events = [
        {"type": "message.delta", "data": {"text": "Hi", "message_id": "m1"}},
        {"type": "final", "data": {}},
    ]
    await client.post("/v1/sessions/plain/events", json=events)
    replay = await client.get(
        "/v1/sessions/plain/replay", params={"speed": "max", "format": "ag_ui"}
    )
    types = [httpx.Response(200, content=f.data).json()["type"] for f in parse_all(replay.content)]
    assert types == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]


async def test_an_unknown_format_is_a_422_that_lists_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/sessions/s/events", json=[{"type": "final", "data": {}}])
    response = await client.get("/v1/sessions/s/replay", params={"format": "grpc"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (
        "use one of: sse, openai-responses, openai-chat, vercel-ai, ag-ui"
        in response.json()["detail"]
    )
