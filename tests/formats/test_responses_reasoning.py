"""A session's reasoning reaches the OpenAI SDKs as a Responses `reasoning` item.

Three sources: a Responses stream of a reasoning model (built from the `openai`
package's own types), recorded through the middleware and replayed verbatim; a UI
message stream the `ai` package wrote itself (`reasoning-delta`), recorded the same way;
and `reasoning.delta` events posted over HTTP. Each replay with
`?format=openai-responses` is read by openai-python's own `responses.stream(...)` (its
HTTP client is given a transport that answers the SDK's POST with the replay, as
tests/js/protocols/read.mjs gives the JS clients a `fetch`), which types every event and
assembles the final response, and by openai-node's `responses.stream(...)`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from openai.types.responses import (
    Response,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
)
from openai.types.responses.response_reasoning_item import Summary

from replaydeck.capture.middleware import RecordingMiddleware
from replaydeck.capture.sdk import Recorder
from replaydeck.formats.openai_responses import decode_response
from replaydeck.formats.sse import parse_all
from tests.capture.helpers import recorded, serve_asgi
from tests.formats.openai_upstream import ANSWER, CREATED, THOUGHT, response_events
from tests.formats.openai_upstream import responses_usage as usage_of
from tests.formats.test_openai_sdk import (
    RESPONSE_EVENT,
    RESPONSES,
    client_of,
    frames_valid,
    raw_replay,
)
from tests.node import run_node
from tests.servers import RunningServer

pytestmark = pytest.mark.anyio

JS_SUITE = Path(__file__).resolve().parents[1] / "js" / "protocols"
REASONED = Response(
    id="resp_reasoned",
    object="response",
    created_at=CREATED,
    model="o4-mini",
    status="completed",
    output=[
        ResponseReasoningItem(
            id="rs_1",
            type="reasoning",
            summary=[Summary(type="summary_text", text="".join(THOUGHT))],
        ),
        ResponseOutputMessage(
            id="msg_1",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text="".join(ANSWER), annotations=[])],
        ),
    ],
    parallel_tool_calls=True,
    tool_choice="auto",
    tools=[],
    usage=usage_of(30, 12),
)


def upstream(recorder: Recorder, ui_stream: str) -> FastAPI:
    """A reasoning model's Responses stream, and an app's AI SDK chat route."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await recorder.aclose()  # on the server's own loop, where the sessions ran

    app = FastAPI(lifespan=lifespan)

    async def body(frames: list[str]) -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame.encode()

    @app.post("/v1/responses")
    async def responses() -> StreamingResponse:
        frames = [
            f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"
            for event in response_events(REASONED)
        ]
        return StreamingResponse(body(frames), media_type="text/event-stream")

    @app.post("/api/chat")
    async def chat() -> StreamingResponse:
        headers = {"x-vercel-ai-ui-message-stream": "v1"}
        return StreamingResponse(body([ui_stream]), media_type="text/event-stream", headers=headers)

    return app


@pytest.fixture
def upstream_url(server: RunningServer) -> Iterator[str]:
    # The AI SDK's own bytes: tool approval, reasoning, a data part, usage in metadata.
    ui_stream = run_node(JS_SUITE, "ai", "parts.mjs")
    recorder = Recorder(server.url, linger=0.005)
    app = RecordingMiddleware(upstream(recorder, ui_stream), recorder, session_idle=0.1)
    with serve_asgi(app) as url:
        yield url


class ReplayTransport(httpx.AsyncBaseTransport):
    """Answers whatever the SDK requests (its POST to /responses) with the replay."""

    def __init__(self, replay_url: str) -> None:
        self._replay_url = replay_url
        self._http = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._http.handle_async_request(httpx.Request("GET", self._replay_url))

    async def aclose(self) -> None:
        await self._http.aclose()


def replay_url(server: RunningServer, session_id: str) -> str:
    return f"{server.url}/v1/sessions/{session_id}/replay?format={RESPONSES}&speed=max"


async def python_sdk_reads(url: str) -> tuple[list[Any], Response]:
    """Every event `responses.stream(...)` yields, and its `get_final_response()`."""
    http = httpx.AsyncClient(transport=ReplayTransport(url))
    client = openai.AsyncOpenAI(
        base_url="http://model.invalid/v1", api_key="x", max_retries=0, http_client=http
    )
    async with client, client.responses.stream(model="o4-mini", input="Weather?") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    return events, final


def js_sdk_reads(url: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(run_node(JS_SUITE, "openai", "read.mjs", RESPONSES, url))
    return result


def summary(response: Response) -> list[tuple[str, str]]:
    """Each reasoning item's id and summary text."""
    return [
        (item.id, "".join(part.text for part in item.summary))
        for item in response.output
        if item.type == "reasoning"
    ]


async def test_a_recorded_reasoning_model_stream_replays_verbatim_with_its_reasoning_item(
    server: RunningServer, upstream_url: str
) -> None:
    session = {"X-Replaydeck-Session": "reasoned"}
    async with (
        client_of(upstream_url) as client,
        client.responses.stream(model="o4-mini", input="Weather?", extra_headers=session) as live,
    ):
        live_events = [event async for event in live]
    events = recorded(server.url, "reasoned")
    thought = [e["data"] for e in events if e["type"] == "reasoning.delta"]
    assert [(d["text"], d["message_id"]) for d in thought] == [(t, "rs_1") for t in THOUGHT]

    # Captured from Responses: each event comes back as it was sent.
    url = replay_url(server, "reasoned")
    body = raw_replay(server, "reasoned", RESPONSES)
    assert [frame.data for frame in parse_all(body)] == [
        event.model_dump_json() for event in response_events(REASONED)
    ]
    got, final = await python_sdk_reads(url)
    assert [e.type for e in got] == [e.type for e in live_events]
    assert summary(final) == [("rs_1", "".join(THOUGHT))]
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text == "".join(ANSWER)

    js = js_sdk_reads(url)
    assert js["reasoning"] == "".join(THOUGHT)
    assert js["items"] == ["reasoning", "message"]
    assert js["text"] == "".join(ANSWER)


async def test_ai_sdk_reasoning_is_replayed_as_a_responses_reasoning_item(
    server: RunningServer, upstream_url: str
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{upstream_url}/api/chat", json={}, headers={"X-Replaydeck-Session": "ui"}
        )
    assert response.status_code == 200
    events = recorded(server.url, "ui")
    assert [e["data"]["text"] for e in events if e["type"] == "reasoning.delta"] == [
        "Needs the weather."
    ]

    url = replay_url(server, "ui")
    frames_valid(RESPONSES, parse_all(raw_replay(server, "ui", RESPONSES)))
    got, final = await python_sdk_reads(url)
    assert any(isinstance(e, ResponseReasoningSummaryTextDeltaEvent) for e in got)
    assert summary(final) == [("r1", "Needs the weather.")]
    assert [item.type for item in final.output] == ["reasoning", "function_call"]

    js = js_sdk_reads(url)
    assert js["reasoning"] == "Needs the weather."
    assert js["items"] == ["reasoning", "function_call"]


POSTED = [
    {"type": "reasoning.delta", "data": {"text": "Look it ", "message_id": "rs_a"}},
    {"type": "reasoning.delta", "data": {"text": "up.", "message_id": "rs_a"}},
    {"type": "message.delta", "data": {"text": "Searching.", "message_id": "m1"}},
    # No message_id: the encoder names the item itself.
    {"type": "reasoning.delta", "data": {"text": "Which source?"}},
    # The message goes on after the reasoning: a second item, which needs an id of its own.
    {"type": "message.delta", "data": {"text": " Still.", "message_id": "m1"}},
    {"type": "tool.call", "data": {"name": "search", "args": {"q": "x"}, "call_id": "c1"}},
    {"type": "final", "data": {"usage": {"input_tokens": 5, "output_tokens": 4}}},
]


async def test_posted_reasoning_events_become_reasoning_items_in_stream_order(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient() as http:
        posted = await http.post(f"{server.url}/v1/sessions/posted/events", json=POSTED)
    assert posted.status_code == 200, posted.text
    frames = parse_all(raw_replay(server, "posted", RESPONSES))
    frames_valid(RESPONSES, frames)
    typed = [RESPONSE_EVENT.validate_json(frame.data) for frame in frames]
    # Every event of an item names that item's position in the response's output.
    added = {e.output_index: e.item.id for e in typed if e.type == "response.output_item.added"}
    assert added == {0: "rs_a", 1: "m1", 2: "rs_0", 3: "m1_2", 4: "fc_c1"}
    for event in typed:
        if hasattr(event, "item_id") and hasattr(event, "output_index"):
            assert added[event.output_index] == event.item_id

    got, final = await python_sdk_reads(replay_url(server, "posted"))
    deltas = [e.delta for e in got if isinstance(e, ResponseReasoningSummaryTextDeltaEvent)]
    assert deltas == ["Look it ", "up.", "Which source?"]
    assert [item.type for item in final.output] == [
        "reasoning",
        "message",
        "reasoning",
        "message",
        "function_call",
    ]
    assert summary(final) == [("rs_a", "Look it up."), ("rs_0", "Which source?")]
    assert final.output_text == "Searching. Still."
    assert final.usage is not None
    assert final.usage.output_tokens == 4

    js = js_sdk_reads(replay_url(server, "posted"))
    assert js["reasoning"] == "Look it up.Which source?"
    assert js["items"] == ["reasoning", "message", "reasoning", "message", "function_call"]
    assert js["text"] == "Searching. Still."


def test_a_non_streamed_answer_keeps_its_reasoning() -> None:
    events = decode_response(REASONED.model_dump(mode="json"))
    assert [(e.type, e.data.get("text")) for e in events] == [
        ("reasoning.delta", "".join(THOUGHT)),
        ("message.delta", "".join(ANSWER)),
        ("turn.end", None),
    ]
    assert events[0].data["message_id"] == "rs_1"
