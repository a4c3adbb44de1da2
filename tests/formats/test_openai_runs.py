"""One session, many model calls: an agent run through `replaydeck proxy` (ProxyApp on a
real uvicorn, in front of a scripted model built from the `openai` package's types),
driven by the real `openai` SDK with one `X-Replaydeck-Session` id for the whole run.

Each model call ends a turn (`turn.end`, with its usage); the session's `final` comes
when the run ends (idle, shutdown, or the producer's own `final`), with the turns'
summed usage; nothing is refused by the store along the way. The replay in each
protocol is read by the SDK and gives each call's answer again.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent

from replaydeck.capture.middleware import RecordingMiddleware
from replaydeck.capture.proxy import ProxyApp
from replaydeck.capture.sdk import Recorder
from replaydeck.config import Settings
from tests.capture.helpers import serve_asgi
from tests.formats.openai_upstream import ANSWER, model_app
from tests.formats.test_openai_sdk import CHAT, RESPONSES, canonical, outcome
from tests.servers import RunningServer, wait_until

pytestmark = pytest.mark.anyio

IDLE = 0.5
TOOLS: Any = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
CHAT_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/replaydeck.db")


@contextmanager
def proxied(store: str, idle: float = IDLE) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(store, linger=0.005)
    with (
        serve_asgi(model_app()) as upstream,
        serve_asgi(ProxyApp(upstream, recorder, session_idle=idle), proxy_headers=False) as url,
    ):
        yield url, recorder


@contextmanager
def wrapped(store: str, idle: float = IDLE) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(store, linger=0.005)
    app = RecordingMiddleware(model_app(recorder), recorder, session_idle=idle)
    with serve_asgi(app) as url:
        yield url, recorder


@pytest.fixture
def proxy(server: RunningServer) -> Iterator[tuple[str, Recorder]]:
    with proxied(server.url) as running:
        yield running


@pytest.fixture(params=["proxy", "middleware"])
def recording(
    request: pytest.FixtureRequest, server: RunningServer
) -> Iterator[tuple[str, Recorder]]:
    """The model service recorded by `replaydeck proxy` before it, or by the middleware in it."""
    with (proxied if request.param == "proxy" else wrapped)(server.url) as running:
        yield running


def client_of(base_url: str, session_id: str | None = None) -> openai.AsyncOpenAI:
    headers = {} if session_id is None else {"X-Replaydeck-Session": session_id}
    return openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="x", max_retries=0, default_headers=headers
    )


def session_of(store: str, session_id: str) -> dict[str, Any]:
    response = httpx.get(f"{store}/v1/sessions/{session_id}")
    return response.json() if response.status_code == 200 else {}


def events_of(store: str, session_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = httpx.get(f"{store}/v1/sessions/{session_id}/events").json()[
        "events"
    ]
    return events


def completed(store: str, session_id: str) -> list[dict[str, Any]]:
    wait_until(lambda: session_of(store, session_id).get("status") == "complete", timeout=10)
    return events_of(store, session_id)


async def responses_run(url: str, session_id: str, *, stream: bool = True) -> list[Any]:
    """An agent loop: ask, run the tool the model asked for, ask again with its output."""
    answers: list[Any] = []
    async with client_of(url, session_id) as client:
        history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
        for _ in range(2):
            if stream:
                events = [
                    e
                    async for e in await client.responses.create(
                        model="gpt-4.1", input=history, tools=TOOLS, stream=True
                    )
                ]
                answers.append(events)
                final = events[-1].response
            else:
                final = await client.responses.create(model="gpt-4.1", input=history, tools=TOOLS)
                answers.append(final)
            for item in final.output:
                if item.type == "function_call":
                    history += [
                        item.model_dump(exclude_none=True),
                        {"type": "function_call_output", "call_id": item.call_id, "output": "18C"},
                    ]
    return answers


async def chat_run(url: str, session_id: str, *, stream: bool = True) -> list[Any]:
    answers: list[Any] = []
    async with client_of(url, session_id) as client:
        messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
        for _ in range(2):
            if stream:
                chunks = [
                    c
                    async for c in await client.chat.completions.create(
                        model="gpt-4.1-mini",
                        messages=messages,
                        tools=CHAT_TOOLS,
                        stream=True,
                        stream_options={"include_usage": True},
                    )
                ]
                answers.append(chunks)
                state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
                for chunk in chunks:
                    state.handle_chunk(chunk)
                message = state.get_final_completion().choices[0].message
            else:
                completion = await client.chat.completions.create(
                    model="gpt-4.1-mini", messages=messages, tools=CHAT_TOOLS
                )
                answers.append(completion)
                message = completion.choices[0].message  # type: ignore[assignment]
            messages.append(message.model_dump(exclude_none=True, exclude={"parsed"}))
            for call in message.tool_calls or []:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C"})
    return answers


async def sdk_replay(store: str, session_id: str, fmt: str) -> list[Any]:
    stream_cls: Any = {
        "openai-chat": openai.AsyncStream[ChatCompletionChunk],
        "openai-responses": openai.AsyncStream[ResponseStreamEvent],
    }[fmt]
    async with client_of(store) as client:
        stream = await client.get(
            f"/sessions/{session_id}/replay",
            cast_to=object,
            options={"params": {"speed": "max", "format": fmt}},
            stream=True,
            stream_cls=stream_cls,
        )
        return [item async for item in stream]


def standard(events: list[dict[str, Any]]) -> list[str]:
    kinds = {"user.message", "message.delta", "tool.call", "turn.end", "final"}
    return [e["type"] for e in events if e["type"] in kinds]


def per_call(fmt: str, items: list[Any]) -> list[dict[str, Any]]:
    """What the SDK's accumulators make of each call in a replay: a Responses replay is
    one response after another, a Chat replay one chunk id per call."""
    if fmt == RESPONSES:
        starts = [i for i, e in enumerate(items) if e.type == "response.created"]
        calls = [items[a:b] for a, b in itertools.pairwise([*starts, len(items)])]
    else:
        ids = dict.fromkeys(c.id for c in items)
        calls = [[c for c in items if c.id == chunk_id] for chunk_id in ids]
    return [canonical(outcome(fmt, call)) for call in calls]


# A run of two calls: the user's question, the tool call ending the first turn, the
# answer (three deltas as streamed, one from a JSON answer) ending the second, the end.
STREAMED_RUN = [
    "user.message",
    "tool.call",
    "turn.end",
    *["message.delta"] * 3,
    "turn.end",
    "final",
]
JSON_RUN = ["user.message", "tool.call", "turn.end", "message.delta", "turn.end", "final"]
USAGE_SUM = {"input_tokens": 60, "output_tokens": 15, "total_tokens": 75}


async def test_a_streamed_responses_run_is_one_session_of_two_turns(
    proxy: tuple[str, Recorder], server: RunningServer
) -> None:
    url, recorder = proxy
    live = await responses_run(url, "run-responses")
    # Open between calls and after the last, until the run has been idle.
    assert session_of(server.url, "run-responses")["status"] != "complete"
    events = completed(server.url, "run-responses")
    assert standard(events) == STREAMED_RUN
    turns = [e["data"] for e in events if e["type"] == "turn.end"]
    assert [t["usage"]["output_tokens"] for t in turns] == [5, 10]
    final = events[-1]["data"]
    assert (final["reason"], final["turns"]) == ("idle", 2)
    assert "synthetic" not in final
    assert {k: final["usage"][k] for k in USAGE_SUM} == USAGE_SUM
    assert final["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}
    assert (recorder.stats.rejected, recorder.stats.dropped) == (0, 0)

    # The replay is the two responses, each read by the SDK as it was live.
    replayed = await sdk_replay(server.url, "run-responses", RESPONSES)
    assert replayed == [e for answer in live for e in answer]
    expected = [canonical(outcome(RESPONSES, answer)) for answer in live]
    assert [call["text"] for call in expected] == ["", "".join(ANSWER)]
    assert per_call(RESPONSES, replayed) == expected

    # In the other protocol: one stream of both calls' chunks, each call its own id.
    assert per_call(CHAT, await sdk_replay(server.url, "run-responses", CHAT)) == expected


async def test_a_streamed_chat_run_is_one_session_and_replays_chunk_for_chunk(
    proxy: tuple[str, Recorder], server: RunningServer
) -> None:
    url, recorder = proxy
    live = await chat_run(url, "run-chat")
    events = completed(server.url, "run-chat")
    assert standard(events) == STREAMED_RUN
    final = events[-1]["data"]
    assert final["turns"] == 2
    assert final["usage"] == {"prompt_tokens": 60, "completion_tokens": 15, "total_tokens": 75}
    assert recorder.stats.rejected == 0
    # Both calls' chunks, then one `[DONE]` where the SDK stops.
    replayed = await sdk_replay(server.url, "run-chat", CHAT)
    assert replayed == [c for answer in live for c in answer]
    expected = [canonical(outcome(CHAT, answer)) for answer in live]
    assert per_call(CHAT, replayed) == expected
    assert per_call(RESPONSES, await sdk_replay(server.url, "run-chat", RESPONSES)) == expected


async def test_a_call_without_a_session_id_is_a_session_that_ends_with_it(
    proxy: tuple[str, Recorder], server: RunningServer
) -> None:
    url, _ = proxy
    async with client_of(url) as client:
        response = await client.chat.completions.with_raw_response.create(
            model="gpt-4.1-mini",
            messages=[{"role": "user", "content": "Weather?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        session_id = response.headers["x-replaydeck-session"]
        _ = [chunk async for chunk in response.parse()]
    # No idle wait: the id was not the client's, so no other call can join it.
    events = completed(server.url, session_id)
    assert [e["type"] for e in events][-2:] == ["turn.end", "final"]
    assert events[-1]["data"] == {
        "reason": "complete",
        "turns": 1,
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }


async def test_a_run_the_producer_ends_itself_is_not_ended_twice(
    proxy: tuple[str, Recorder], server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    url, recorder = proxy
    caplog.set_level(logging.INFO, logger="replaydeck.capture")
    await responses_run(url, "ended-by-app")

    def stored_turns() -> int:
        return [e["type"] for e in events_of(server.url, "ended-by-app")].count("turn.end")

    # The capture uploads in the background: a `final` that overtook the last call's
    # events would shut them out (refused and counted), so the agent waits for them.
    wait_until(lambda: stored_turns() == 2, timeout=10)
    # The agent knows its run is over and says so to the store.
    async with httpx.AsyncClient() as store:
        ended = await store.post(
            f"{server.url}/v1/sessions/ended-by-app/events",
            json={"type": "final", "data": {"reason": "agent done"}},
        )
    assert ended.status_code == 200
    # The capture's own end comes once the run has been idle, and is refused quietly.
    wait_until(lambda: "was already ended" in caplog.text, timeout=10)
    events = events_of(server.url, "ended-by-app")
    assert events[-1]["data"] == {"reason": "agent done"}
    assert [e["type"] for e in events].count("turn.end") == 2
    assert recorder.stats.rejected == 0


async def test_a_call_after_the_run_ended_is_refused_logged_and_counted(
    proxy: tuple[str, Recorder], server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    url, recorder = proxy
    await chat_run(url, "late-call")
    completed(server.url, "late-call")
    with caplog.at_level(logging.WARNING, logger="replaydeck.capture"):
        await chat_run(url, "late-call")
        wait_until(lambda: recorder.stats.rejected > 0, timeout=10)
    assert "already final in the store" in caplog.text
    # The recorded session is the first run, untouched.
    assert [e["type"] for e in events_of(server.url, "late-call")].count("turn.end") == 2


async def test_a_run_still_open_when_the_proxy_stops_ends_as_shutdown(
    server: RunningServer,
) -> None:
    with proxied(server.url, idle=600) as (url, _):
        await chat_run(url, "cut-by-shutdown")
        assert session_of(server.url, "cut-by-shutdown")["status"] != "complete"
    events = completed(server.url, "cut-by-shutdown")
    assert events[-1]["data"]["reason"] == "shutdown"
    assert events[-1]["data"]["turns"] == 2


# --- non-streamed answers ----------------------------------------------------------------


async def test_a_run_of_json_responses_answers_is_recorded_as_its_stream_would_be(
    recording: tuple[str, Recorder], server: RunningServer
) -> None:
    url, recorder = recording
    live = await responses_run(url, "json-responses", stream=False)
    events = completed(server.url, "json-responses")
    assert standard(events) == JSON_RUN
    call = next(e["data"] for e in events if e["type"] == "tool.call")
    assert call == {"name": "get_weather", "args": {"city": "Paris"}, "call_id": "call_1"}
    text = next(e["data"] for e in events if e["type"] == "message.delta")
    assert text == {"text": "".join(ANSWER), "message_id": "msg_2"}
    assert events[-1]["data"]["turns"] == 2
    assert {k: events[-1]["data"]["usage"][k] for k in USAGE_SUM} == USAGE_SUM
    assert recorder.stats.rejected == 0

    # Replayed as the stream the SDK would have read: the same answers.
    replayed = await sdk_replay(server.url, "json-responses", RESPONSES)
    assert [(c["text"], c["usage"]) for c in per_call(RESPONSES, replayed)] == [
        (a.output_text, (a.usage.input_tokens, a.usage.output_tokens))  # type: ignore[union-attr]
        for a in live
    ]
    calls = per_call(RESPONSES, replayed)[0]["calls"]
    assert [(name, args) for _, name, args in calls] == [("get_weather", {"city": "Paris"})]


async def test_a_run_of_json_chat_answers_is_recorded_and_replayed(
    recording: tuple[str, Recorder], server: RunningServer
) -> None:
    url, recorder = recording
    live = await chat_run(url, "json-chat", stream=False)
    events = completed(server.url, "json-chat")
    assert standard(events) == JSON_RUN
    turns = [e["data"] for e in events if e["type"] == "turn.end"]
    assert [t["finish_reasons"] for t in turns] == [["tool_calls"], ["stop"]]
    assert [t["response_id"] for t in turns] == [a.id for a in live]
    usage = events[-1]["data"]["usage"]
    assert {k: v for k, v in usage.items() if v is not None} == {
        "prompt_tokens": 60,
        "completion_tokens": 15,
        "total_tokens": 75,
    }
    replayed = per_call(CHAT, await sdk_replay(server.url, "json-chat", CHAT))
    assert [c["text"] for c in replayed] == [a.choices[0].message.content or "" for a in live]
    assert [c["usage"] for c in replayed] == [(20, 5), (40, 10)]
    assert recorder.stats.rejected == 0


async def test_other_json_answers_are_passed_on_and_not_recorded(
    recording: tuple[str, Recorder], server: RunningServer
) -> None:
    url, recorder = recording
    # Not a model call: no session, no header.
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{url}/v1/chat/completions", json={"messages": []})
    assert "x-replaydeck-session" not in response.headers
    assert recorder.stats.sent == 0
