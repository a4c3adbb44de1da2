"""The official OpenAI Python SDK reads replaydeck's `?format=openai-chat` and
`?format=openai-responses` replays, from a real uvicorn, and gets what the live stream
gave it: the same chunks for a captured session, the same text, tool calls and usage for
a synthesised one, at `speed=max` and at speed 1 through heartbeats, and a reconnect with
Last-Event-ID that goes on exactly where the client was.

How the SDK reads a replay: the replay is a GET, so the client's generic request method
(`client.get`, what the SDK's README gives for endpoints it has no method for) with the
stream class that `create(stream=True)` itself uses (`AsyncStream[ChatCompletionChunk]`,
`AsyncStream[ResponseStreamEvent]`). That is the SDK's whole streaming path (its HTTP
client, SSEDecoder, `[DONE]` handling, model casting) with no shim and no private
constructor. The SDK's public accumulators (`ChatCompletionStreamState`,
`ResponseStreamState`) then assemble the final completion or response, so the event
sequence must make sense to the SDK as a whole, not frame by frame.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import (
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.completion_usage import CompletionUsage
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from replaydeck.capture.middleware import RecordingMiddleware
from replaydeck.capture.sdk import Recorder
from replaydeck.config import Settings
from replaydeck.formats.sse import SSEFrame, parse_all
from tests.capture.helpers import recorded, serve_asgi
from tests.servers import RunningServer

pytestmark = pytest.mark.anyio

HEARTBEAT = 0.05
RESPONSES_SAMPLE = Path(__file__).parents[1] / "capture" / "samples" / "openai_responses.sse"
RESPONSE_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
CHAT = "openai-chat"
RESPONSES = "openai-responses"
STREAMS: dict[str, Any] = {
    CHAT: openai.AsyncStream[ChatCompletionChunk],
    RESPONSES: openai.AsyncStream[ResponseStreamEvent],
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Short heartbeats, so a gap of a few tenths of a second at speed 1 carries several.
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/replaydeck.db",
        heartbeat_interval=HEARTBEAT,
    )


# --- what the upstream streams: built from the SDK's own types ----------------------------

CHAT_ID = "chatcmpl-live"


def chat_chunk(
    delta: ChoiceDelta | None, finish: Any = None, usage: CompletionUsage | None = None
) -> ChatCompletionChunk:
    choices = [] if delta is None else [Choice(index=0, delta=delta, finish_reason=finish)]
    return ChatCompletionChunk(
        id=CHAT_ID,
        object="chat.completion.chunk",
        created=1764000000,
        model="gpt-4.1-mini",
        choices=choices,
        usage=usage,
    )


def tool_piece(index: int, arguments: str, **start: str) -> ChoiceDelta:
    """A piece of a streamed tool call: the first names it, the rest carry arguments only
    (the API leaves `id`, `type` and `name` out of them, and the SDK's accumulator merges
    whatever fields a piece sets)."""
    if start:
        function = ChoiceDeltaToolCallFunction(name=start["name"], arguments=arguments)
        piece = ChoiceDeltaToolCall(
            index=index, id=start["call_id"], type="function", function=function
        )
    else:
        function = ChoiceDeltaToolCallFunction(arguments=arguments)
        piece = ChoiceDeltaToolCall(index=index, function=function)
    return ChoiceDelta(tool_calls=[piece])


CHAT_CHUNKS = [
    chat_chunk(ChoiceDelta(role="assistant", content="")),
    chat_chunk(ChoiceDelta(content="Checking ")),
    chat_chunk(ChoiceDelta(content="two cities.")),
    chat_chunk(tool_piece(0, "", call_id="call_a", name="get_weather")),
    chat_chunk(tool_piece(0, '{"city": ')),
    chat_chunk(tool_piece(0, '"Paris"}')),
    chat_chunk(tool_piece(1, '{"city": "Oslo"}', call_id="call_b", name="get_weather")),
    chat_chunk(ChoiceDelta(), finish="tool_calls"),
    chat_chunk(
        None, usage=CompletionUsage(prompt_tokens=40, completion_tokens=25, total_tokens=65)
    ),
]
# The Responses API's reference stream (tests/capture/samples), as the SDK's own models.
RESPONSE_EVENTS = [
    RESPONSE_EVENT.validate_json(frame.data) for frame in parse_all(RESPONSES_SAMPLE.read_bytes())
]


def upstream(recorder: Recorder) -> FastAPI:
    """An LLM service stand-in, serialising the SDK's models as the API streams them."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await recorder.aclose()  # on the server's own loop, where the sessions ran

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/chat/completions")
    async def chat() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for chunk in CHAT_CHUNKS:
                # The API leaves out what a chunk does not set; a `"type": null` on a
                # tool call's later pieces would break the SDK's own accumulator.
                yield f"data: {chunk.model_dump_json(exclude_unset=True)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    @app.post("/v1/chat/held")
    async def held() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for chunk in CHAT_CHUNKS:
                yield f"data: {chunk.model_dump_json(exclude_unset=True)}\n\n".encode()
            yield b"data: [DONE]\n\n"
            await anyio.Event().wait()  # a server that keeps the connection open after it

        return StreamingResponse(body(), media_type="text/event-stream")

    @app.post("/v1/responses")
    async def responses() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for event in RESPONSE_EVENTS:
                yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n".encode()

        return StreamingResponse(body(), media_type="text/event-stream")

    return app


@pytest.fixture
def upstream_url(server: RunningServer) -> Iterator[str]:
    recorder = Recorder(server.url, linger=0.005)
    # Each session is one call: its run ends (and the session completes) once idle.
    app = RecordingMiddleware(upstream(recorder), recorder, session_idle=0.1)
    with serve_asgi(app) as url:
        yield url


# --- the SDK on a replay -----------------------------------------------------------------


def client_of(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0)


async def sdk_replay(
    server: RunningServer,
    session_id: str,
    fmt: str,
    *,
    speed: str = "max",
    last_event_id: int | str | None = None,
) -> list[Any]:
    """What the SDK yields for the replay, item by item."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    async with client_of(server.url) as client:
        stream = await client.get(
            f"/sessions/{session_id}/replay",
            cast_to=object,
            options={"params": {"speed": speed, "format": fmt}, "headers": headers},
            stream=True,
            stream_cls=STREAMS[fmt],
        )
        return [item async for item in stream]


def raw_replay(server: RunningServer, session_id: str, fmt: str, speed: str = "max") -> bytes:
    params = {"speed": speed, "format": fmt}
    response = httpx.get(f"{server.url}/v1/sessions/{session_id}/replay", params=params)
    assert response.status_code == 200, response.text
    return response.content


def frames_valid(fmt: str, frames: list[SSEFrame]) -> None:
    """Every frame validates against the SDK's own pydantic models."""
    for frame in frames:
        if fmt == CHAT:
            if frame.data != "[DONE]":
                ChatCompletionChunk.model_validate_json(frame.data)
        else:
            event = RESPONSE_EVENT.validate_json(frame.data)
            assert frame.event == event.type


def outcome(fmt: str, items: list[Any]) -> dict[str, Any]:
    """Text, tool calls and usage, as the SDK's own accumulators assemble them."""
    if fmt == CHAT:
        chat_state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
        for chunk in items:
            chat_state.handle_chunk(chunk)
        completion = chat_state.get_final_completion()
        message = completion.choices[0].message
        usage = completion.usage
        return {
            "text": message.content or "",
            "calls": [
                (c.id, c.function.name, c.function.arguments)  # type: ignore[union-attr]
                for c in message.tool_calls or []
            ],
            "usage": None if usage is None else (usage.prompt_tokens, usage.completion_tokens),
        }
    state: ResponseStreamState[Any] = ResponseStreamState(
        input_tools=openai.omit, text_format=openai.omit
    )
    for event in items:
        state.handle_event(event)
    completed = [e for e in items if e.type == "response.completed"]
    assert len(completed) == 1
    response = completed[0].response
    tokens = response.usage
    return {
        "text": response.output_text,
        "calls": [
            (item.call_id, item.name, item.arguments)
            for item in response.output
            if item.type == "function_call"
        ],
        "usage": None if tokens is None else (tokens.input_tokens, tokens.output_tokens),
    }


def canonical(result: dict[str, Any]) -> dict[str, Any]:
    """Tool arguments compared as JSON values: a synthesised stream re-serialises them."""
    calls = [(call_id, name, json.loads(args)) for call_id, name, args in result["calls"]]
    return {**result, "calls": calls}


# --- captured through the middleware, replayed verbatim and across -----------------------


async def test_a_chat_stream_is_recorded_and_the_sdk_reads_its_replay_identically(
    server: RunningServer, upstream_url: str
) -> None:
    async with client_of(upstream_url) as client:
        live_stream = await client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=[{"role": "user", "content": "Weather in Paris and Oslo?"}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"X-Replaydeck-Session": "chat-live"},
        )
        live = [chunk async for chunk in live_stream]
    assert live == CHAT_CHUNKS

    events = recorded(server.url, "chat-live")
    kinds = {"message.delta", "tool.call", "turn.end", "final"}
    standard = [(e["type"], e["data"]) for e in events if e["type"] in kinds]
    assert [kind for kind, _ in standard] == [
        "message.delta",
        "message.delta",
        "tool.call",
        "tool.call",
        "turn.end",
        "final",
    ]
    assert [data["text"] for kind, data in standard if kind == "message.delta"] == [
        "Checking ",
        "two cities.",
    ]
    calls = [(d["call_id"], d["name"], d["args"]) for k, d in standard if k == "tool.call"]
    assert calls == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_weather", {"city": "Oslo"}),
    ]
    # `[DONE]` is the call's normal end: no event of its own, a turn that is not
    # synthetic or interrupted, and the run's `final` with the same usage.
    turn, final = events[-2]["data"], events[-1]["data"]
    for end in (turn, final):
        usage = {k: v for k, v in end["usage"].items() if v is not None}
        assert usage == {"completion_tokens": 25, "prompt_tokens": 40, "total_tokens": 65}
        assert "synthetic" not in end
    assert not any("DONE" in str(e["data"].get("raw")) for e in events)

    for speed in ("max", "1"):
        assert await sdk_replay(server, "chat-live", CHAT, speed=speed) == live
    expected = canonical(outcome(CHAT, live))
    assert expected == {
        "text": "Checking two cities.",
        "calls": calls,
        "usage": (40, 25),
    }
    # The same session, synthesised as a Responses stream, means the same to the SDK.
    items = await sdk_replay(server, "chat-live", RESPONSES)
    assert canonical(outcome(RESPONSES, items)) == expected
    frames_valid(RESPONSES, parse_all(raw_replay(server, "chat-live", RESPONSES)))


async def test_a_responses_stream_is_recorded_and_the_sdk_reads_its_replay_identically(
    server: RunningServer, upstream_url: str
) -> None:
    async with client_of(upstream_url) as client:
        live_stream = await client.responses.create(
            model="gpt-4.1",
            input="Weather in Paris?",
            stream=True,
            extra_headers={"X-Replaydeck-Session": "responses-live"},
        )
        live = [event async for event in live_stream]
    # The SDK constructs what it reads without validating (created_at stays an int).
    assert [e.model_dump(exclude_none=True) for e in live] == [
        e.model_dump(exclude_none=True) for e in RESPONSE_EVENTS
    ]
    events = recorded(server.url, "responses-live")
    assert [e["type"] for e in events].count("tool.call") == 1

    assert await sdk_replay(server, "responses-live", RESPONSES) == live
    expected = canonical(outcome(RESPONSES, live))
    assert expected["usage"] == (37, 11)
    items = await sdk_replay(server, "responses-live", CHAT)
    assert canonical(outcome(CHAT, items)) == expected
    frames_valid(CHAT, parse_all(raw_replay(server, "responses-live", CHAT)))


def test_a_client_that_closes_after_done_ends_the_session_normally(
    server: RunningServer, upstream_url: str
) -> None:
    headers = {"X-Replaydeck-Session": "closed-after-done"}
    with httpx.stream("POST", f"{upstream_url}/v1/chat/held", headers=headers) as response:
        body = b""
        for chunk in response.iter_raw():
            body += chunk
            if b"data: [DONE]" in body:
                break  # as the SDK's own `[DONE]` handling stops reading
    events = recorded(server.url, "closed-after-done")
    assert [e["type"] for e in events][-2:] == ["turn.end", "final"]
    assert "synthetic" not in events[-2]["data"]  # not `interrupted`
    assert "synthetic" not in events[-1]["data"]
    assert [e["type"] for e in events].count("tool.call") == 2


# --- a session of standard events, synthesised into either protocol ----------------------

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GAP = 0.4  # seconds between the text and the tool call: several heartbeats at speed 1


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


PLAIN = [
    {"type": "status", "data": {"label": "thinking"}, "ts": at(0)},
    # A reasoning item before the message: a resume inside it keeps the output indexes.
    {
        "type": "reasoning.delta",
        "data": {"text": "A search.", "message_id": "rs_1"},
        "ts": at(0.005),
    },
    {"type": "message.delta", "data": {"text": "Let me ", "message_id": "m1"}, "ts": at(0.01)},
    {"type": "message.delta", "data": {"text": "look.", "message_id": "m1"}, "ts": at(0.02)},
    {
        "type": "tool.call",
        "data": {"name": "search", "args": {"q": "sse retry"}, "call_id": "c1"},
        "ts": at(0.02 + GAP),
    },
    {
        "type": "tool.result",
        "data": {"name": "search", "call_id": "c1", "result": {"hits": 2}},
        "ts": at(0.03 + GAP),
    },
    {
        "type": "message.delta",
        "data": {"text": "Two hits.", "message_id": "m2"},
        "ts": at(0.04 + GAP),
    },
    {
        "type": "final",
        "data": {"usage": {"input_tokens": 12, "output_tokens": 7}},
        "ts": at(0.05 + GAP),
    },
]


@pytest.fixture
def plain(server: RunningServer) -> str:
    response = httpx.post(f"{server.url}/v1/sessions/plain/events", json=PLAIN)
    assert response.status_code == 200, response.text
    return "plain"


@pytest.mark.parametrize("fmt", [CHAT, RESPONSES])
async def test_a_synthesised_replay_parses_with_the_sdk_at_full_speed_and_through_heartbeats(
    server: RunningServer, plain: str, fmt: str
) -> None:
    fast = await sdk_replay(server, plain, fmt)
    result = canonical(outcome(fmt, fast))
    assert result == {
        "text": "Let me look.Two hits.",
        "calls": [("c1", "search", {"q": "sse retry"})],
        "usage": (12, 7),
    }
    # At speed 1 the gap carries keep-alives, as comment lines that join the next
    # event's block, and `retry:` rides in the first block: nothing for the SDK to trip on.
    body = raw_replay(server, plain, fmt, speed="1")
    assert body.count(b": keep-alive\n") >= 3
    assert b": keep-alive\n\n" not in body
    assert body.startswith(b"retry: 3000\n")
    assert not body.startswith(b"retry: 3000\n\n")
    frames = parse_all(body)
    frames_valid(fmt, frames)
    assert await sdk_replay(server, plain, fmt, speed="1") == fast


def written_ids(body: bytes) -> list[str | None]:
    """Each frame's own `id:` field, None where it has none (the parser would give the id
    still in force), `[DONE]` left out as the SDK leaves it out."""
    ids: list[str | None] = []
    for block in body.split(b"\n\n"):
        lines = block.decode().splitlines()
        data = [line for line in lines if line.startswith("data:")]
        if data and data != ["data: [DONE]"]:
            own = [line.removeprefix("id: ") for line in lines if line.startswith("id:")]
            ids.append(own[-1] if own else None)
    return ids


@pytest.mark.parametrize(("session", "fmt"), list(itertools.product(["plain", "chat"], STREAMS)))
async def test_a_reconnect_with_last_event_id_resumes_without_skipping_or_repeating(
    server: RunningServer, plain: str, upstream_url: str, session: str, fmt: str
) -> None:
    if session == "chat":
        async with client_of(upstream_url) as client:
            live = await client.chat.completions.create(
                model="gpt-4.1-mini",
                messages=[{"role": "user", "content": "Weather?"}],
                stream=True,
                extra_headers={"X-Replaydeck-Session": "chat"},
            )
            _ = [chunk async for chunk in live]
        recorded(server.url, "chat")
    full = await sdk_replay(server, session, fmt)
    ids = written_ids(raw_replay(server, session, fmt))
    assert len(ids) == len(full)  # one SDK item per frame
    # Every stored event's frames end with its seq (a client that has it has them all),
    # the frames before it `<seq>.<k>`: a resume after any frame goes on right after it.
    for had, frame_id in enumerate(ids[:-1], 1):
        if frame_id is None:  # not of the SDK's own items ([DONE])
            continue
        resumed = await sdk_replay(server, session, fmt, last_event_id=frame_id)
        assert full[:had] + resumed == full, f"resumed after {frame_id}"
