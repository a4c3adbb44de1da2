"""One session, many calls, for the streams that are not model calls: an AI SDK chat
sending each user message as a POST of its own, through `replaydeck proxy` in front of
an AI SDK app (streamText over the SDK's mock model), and an AG-UI client running
several runs on one thread, through the middleware in a FastAPI agent written with
PyPI `ag-ui-protocol`'s own events and encoder.

Under one `X-Replaydeck-Session` id each stream ends a turn (`turn.end`, with the usage
its protocol's end carried), the session's `final` comes once the run has been idle,
and the replay in the protocol is read by the official client as the turns they were.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ag_ui.core import (
    Event,
    EventType,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TokenUsage,
)
from ag_ui.encoder import EventEncoder
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from replaydeck.capture.middleware import RecordingMiddleware
from replaydeck.capture.proxy import ProxyApp
from replaydeck.capture.sdk import Recorder
from replaydeck.formats.sse import parse_all
from tests.capture.helpers import node_app, recorded, serve_asgi
from tests.node import run_node
from tests.servers import RunningServer

JS = Path(__file__).resolve().parents[1] / "js"
IDLE = 0.3  # seconds the run stays open after its last call
AG_UI_EVENT: TypeAdapter[Any] = TypeAdapter(Event)


def replay_turns(store: str, session_id: str, fmt: str) -> list[dict[str, Any]]:
    url = f"{store}/v1/sessions/{session_id}/replay?format={fmt}&speed=max"
    turns: list[dict[str, Any]] = json.loads(
        run_node(JS / "protocols", "ai", "read.mjs", f"{fmt}-turns", url)
    )
    return turns


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@pytest.fixture
def ai_sdk_proxy(server: RunningServer) -> Iterator[str]:
    recorder = Recorder(server.url, linger=0.005)
    with (
        node_app(JS / "upstream-ai-sdk" / "server.mjs") as app,
        serve_asgi(ProxyApp(app, recorder, session_idle=IDLE), proxy_headers=False) as url,
    ):
        yield url


def test_an_ai_sdk_chat_is_one_session_of_turns(ai_sdk_proxy: str, server: RunningServer) -> None:
    chat = f"{ai_sdk_proxy}/api/chat"
    said = json.loads(run_node(JS / "upstream-ai-sdk", "ai", "conversation.mjs", chat, "chat-7"))
    assert [m["id"] for m in said] == ["msg-1", "msg-2"]

    events = recorded(server.url, "chat-7")
    kinds = types_of(events)
    # Both POSTs are in the session, each one a turn; the run ended once idle.
    assert kinds.count("user.message") == kinds.count("turn.end") == 2
    assert kinds[-2:] == ["turn.end", "final"]
    assert [e["data"]["text"] for e in events if e["type"] == "user.message"] == [
        "Weather in Berlin?",
        "And in Paris?",
    ]
    ends = [e["data"] for e in events if e["type"] == "turn.end"]
    assert [end["raw"]["type"] for end in ends] == ["finish", "finish"]
    assert [end["usage"]["total_tokens"] for end in ends] == [14, 14]
    final = events[-1]["data"]
    assert (final["reason"], final["turns"], final["usage"]["total_tokens"]) == ("idle", 2, 28)

    # The replay is the two assistant messages again, as the AI SDK reads them.
    turns = replay_turns(server.url, "chat-7", "vercel-ai")
    assert [(t["id"], t["text"]) for t in turns] == [
        (m["id"], "".join(p.get("text", "") for p in m["parts"])) for m in said
    ]
    assert [t["usage"] for t in turns] == [m["metadata"]["usage"] for m in said]


def agent_app(recorder: Recorder) -> FastAPI:
    """An AG-UI agent: says what it was asked, with its usage; "fail" ends in RUN_ERROR."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await recorder.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/agent")
    async def agent(run: RunAgentInput) -> StreamingResponse:
        encoder = EventEncoder()
        asked = str(run.messages[-1].content)
        message_id = f"a-{run.run_id}"
        ids = {"thread_id": run.thread_id, "run_id": run.run_id}
        events: list[Any] = [RunStartedEvent(type=EventType.RUN_STARTED, **ids)]
        if asked == "fail":
            events.append(RunErrorEvent(type=EventType.RUN_ERROR, message="no model", code="503"))
        else:
            events += [
                TextMessageStartEvent(
                    type=EventType.TEXT_MESSAGE_START, message_id=message_id, role="assistant"
                ),
                TextMessageContentEvent(
                    type=EventType.TEXT_MESSAGE_CONTENT, message_id=message_id, delta=asked
                ),
                TextMessageEndEvent(type=EventType.TEXT_MESSAGE_END, message_id=message_id),
                RunFinishedEvent(
                    type=EventType.RUN_FINISHED,
                    usage=[TokenUsage(input_tokens=len(asked), output_tokens=1)],
                    **ids,
                ),
            ]

        async def stream() -> AsyncIterator[str]:
            for event in events:
                yield encoder.encode(event)

        return StreamingResponse(stream(), media_type=encoder.get_content_type())

    return app


def test_ag_ui_runs_on_one_thread_are_one_session_of_turns(server: RunningServer) -> None:
    recorder = Recorder(server.url, linger=0.005)
    app = RecordingMiddleware(agent_app(recorder), recorder, session_idle=IDLE)
    with serve_asgi(app) as url:
        output = run_node(
            JS / "upstream-ag-ui",
            "@ag-ui/client",
            "thread.mjs",
            f"{url}/agent",
            "thread-9",
            "Hi",
            "fail",
            "Bye",
        )
        # While the app runs: its shutdown would end the run before it is idle.
        events = recorded(server.url, "thread-9")
    live = json.loads(output)
    assert [run.get("error") for run in live] == [None, "no model", None]

    kinds = types_of(events)
    assert kinds.count("user.message") == kinds.count("turn.end") == 3
    ends = [e["data"] for e in events if e["type"] == "turn.end"]
    # RUN_FINISHED ends its turn with its usage; RUN_ERROR is recorded as `error`, and
    # the turn ends after it, marked: no RUN_FINISHED came.
    assert [end.get("raw", {}).get("type") for end in ends] == [
        "RUN_FINISHED",
        None,
        "RUN_FINISHED",
    ]
    assert ends[1] == {"synthetic": True, "reason": "eof"}
    assert kinds.index("error") == kinds.index("turn.end", kinds.index("turn.end") + 1) - 1
    assert [end.get("usage") for end in ends] == [
        {"input_tokens": 2, "output_tokens": 1},
        None,
        {"input_tokens": 3, "output_tokens": 1},
    ]
    final = events[-1]
    assert final["type"] == "final"
    assert (final["data"]["reason"], final["data"]["turns"]) == ("idle", 3)
    assert final["data"]["usage"] == {"input_tokens": 5, "output_tokens": 2}

    # The replay: three runs on the thread, read by HttpAgent and by ag-ui-protocol.
    turns = replay_turns(server.url, "thread-9", "ag-ui")
    assert [(t["runId"], t["text"], t.get("error")) for t in turns] == [
        ("run-1", "Hi", None),
        ("run-2", "", "no model"),
        ("run-3", "Bye", None),
    ]
    replay = httpx.get(f"{server.url}/v1/sessions/thread-9/replay?format=ag-ui&speed=max")
    parsed = [AG_UI_EVENT.validate_json(frame.data) for frame in parse_all(replay.content)]
    assert [e.type.value for e in parsed].count("RUN_STARTED") == 3
