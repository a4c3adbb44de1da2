"""The user's turn: what each protocol's request body carries is recorded as the
session's `user.message`, by the middleware in a Python app and by the proxy in front
of one, both on real uvicorns recording into a real replaydeck; redacted like the rest."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from replaydeck.capture.middleware import RecordingMiddleware
from replaydeck.capture.proxy import ProxyApp
from replaydeck.capture.sdk import Recorder
from replaydeck.formats.sse import parse_all
from tests.capture.helpers import recorded, serve_asgi
from tests.servers import RunningServer

SAMPLES = Path(__file__).parent / "samples"

CHAT_STREAM = (
    b"".join(
        b"data: " + json.dumps(chunk).encode() + b"\n\n"
        for chunk in [
            {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d}]}
            for d in ({"role": "assistant", "content": ""}, {"content": "Server-Sent Events."})
        ]
    )
    + b"data: [DONE]\n\n"
)


def upstream_app(recorder: Recorder | None = None) -> FastAPI:
    """An LLM app with one endpoint per protocol: each reads its request as a real
    one does, then streams that protocol's answer."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if recorder is not None:
            await recorder.aclose()  # on the server's own loop, where the sessions ran

    app = FastAPI(lifespan=lifespan)

    def stream(body: bytes) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for block in body.split(b"\n\n"):
                if block.strip():
                    yield block + b"\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.post("/v1/responses")
    async def responses(request: Request) -> Response:
        if not await request.body():
            return JSONResponse({"error": "no body"}, status_code=400)
        return stream((SAMPLES / "openai_responses.sse").read_bytes())

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        if not await request.body():
            return JSONResponse({"error": "no body"}, status_code=400)
        return stream(CHAT_STREAM)

    @app.post("/agent")
    async def agent(request: Request) -> Response:
        if not await request.body():
            return JSONResponse({"error": "no body"}, status_code=400)
        return stream((SAMPLES / "ag_ui.sse").read_bytes())

    @app.post("/api/chat")
    async def ai_sdk(request: Request) -> Response:
        if not await request.body():
            return JSONResponse({"error": "no body"}, status_code=400)
        return stream((SAMPLES / "vercel_ai.sse").read_bytes())

    return app


IMAGE = {"type": "input_image", "image_url": "https://example.com/cat.png"}

# (case, path, request body, the recorded user.message's data or None)
REQUESTS: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
    (
        "responses-string",
        "/v1/responses",
        {"model": "gpt-4.1", "input": "What is SSE?", "stream": True},
        {"text": "What is SSE?"},
    ),
    (
        "responses-items",
        "/v1/responses",
        {
            "model": "gpt-4.1",
            "stream": True,
            "input": [
                {"role": "developer", "content": "Answer briefly."},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "What is this?"}, IMAGE],
                },
            ],
        },
        {
            "text": "What is this?",
            "content": [{"type": "input_text", "text": "What is this?"}, IMAGE],
        },
    ),
    (
        "responses-tool-output",
        "/v1/responses",
        {
            "model": "gpt-4.1",
            "stream": True,
            "previous_response_id": "resp_1",
            "input": [{"type": "function_call_output", "call_id": "c1", "output": "{}"}],
        },
        None,
    ),
    (
        "chat",
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "stream": True,
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "What is SSE?"},
            ],
        },
        {"text": "What is SSE?"},
    ),
    (
        "chat-parts",
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "stream": True,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe"},
                        {"type": "text", "text": "this picture."},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ],
                }
            ],
        },
        {
            "text": "Describe\nthis picture.",
            "content": [
                {"type": "text", "text": "Describe"},
                {"type": "text", "text": "this picture."},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
    ),
    (
        "chat-after-tool",
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "stream": True,
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "18 C"},
            ],
        },
        None,  # the next model call of the same turn: the user said nothing new
    ),
    (
        "ag-ui",
        "/agent",
        {
            "threadId": "thread_42",
            "runId": "run_7",
            "state": {},
            "messages": [
                {"id": "sys-1", "role": "system", "content": "Be helpful."},
                {"id": "user-1", "role": "user", "content": "What is SSE?"},
            ],
            "tools": [],
            "context": [],
            "forwardedProps": {},
        },
        {"text": "What is SSE?", "message_id": "user-1"},
    ),
    (
        "ai-sdk",
        "/api/chat",
        {
            "id": "chat-9",
            "trigger": "submit-message",
            "messages": [
                {
                    "id": "msg-u1",
                    "role": "user",
                    "parts": [{"type": "text", "text": "What is SSE?"}],
                }
            ],
        },
        {
            "text": "What is SSE?",
            "content": [{"type": "text", "text": "What is SSE?"}],
            "message_id": "msg-u1",
        },
    ),
]


@pytest.fixture(params=["middleware", "proxy"])
def app_url(request: pytest.FixtureRequest, server: RunningServer) -> Iterator[str]:
    """The upstream app, recorded by the middleware inside it or by the proxy before it."""
    recorder = Recorder(server.url, linger=0.005)
    if request.param == "middleware":
        # session_idle: a run under the client's id ends (and completes) once idle.
        app = RecordingMiddleware(upstream_app(recorder), recorder, session_idle=0.1)
        with serve_asgi(app) as url:
            yield url
    else:
        with (
            serve_asgi(upstream_app()) as upstream_url,
            serve_asgi(ProxyApp(upstream_url, recorder, session_idle=0.1)) as url,
        ):
            yield url


def ask(url: str, path: str, session_id: str, **request: Any) -> str:
    headers = {"X-Replaydeck-Session": session_id, **request.pop("headers", {})}
    response = httpx.post(f"{url}{path}", headers=headers, timeout=10, **request)
    assert response.status_code == 200
    assert response.headers["x-replaydeck-session"] == session_id
    return response.text


@pytest.mark.parametrize(
    ("session_id", "path", "body", "expected"), REQUESTS, ids=[case[0] for case in REQUESTS]
)
def test_the_request_body_gives_the_users_message(
    app_url: str,
    server: RunningServer,
    session_id: str,
    path: str,
    body: dict[str, Any],
    expected: Any,
) -> None:
    ask(app_url, path, session_id, json=body)
    events = recorded(server.url, session_id)
    users = [e for e in events if e["type"] == "user.message"]
    if expected is None:
        assert users == []
        return
    # The first event, stamped when the request arrived: before any of the answer.
    assert events[0]["type"] == "user.message"
    assert events[0]["data"] == expected
    assert events[0]["ts"] <= events[1]["ts"]
    assert len(users) == 1
    assert events[-1]["type"] == "final"


def test_a_body_sent_in_chunks_is_read_whole(app_url: str, server: RunningServer) -> None:
    body = json.dumps(REQUESTS[0][2]).encode()
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    ask(
        app_url,
        "/v1/responses",
        "chunked-body",
        content=iter(pieces),
        headers={"Content-Type": "application/json"},
    )
    assert recorded(server.url, "chunked-body")[0]["data"] == {"text": "What is SSE?"}


def test_a_secret_the_user_typed_is_redacted(app_url: str, server: RunningServer) -> None:
    key = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2
    body = {
        "id": "chat-9",
        "messages": [
            {
                "id": "msg-u2",
                "role": "user",
                "parts": [{"type": "text", "text": f"My key is {key}, is it valid?"}],
            }
        ],
    }
    ask(app_url, "/api/chat", "secret-turn", json=body)
    events = recorded(server.url, "secret-turn")
    said = events[0]
    assert said["type"] == "user.message"
    assert said["data"]["text"] == "My key is [REDACTED], is it valid?"
    assert said["data"]["content"] == [
        {"type": "text", "text": "My key is [REDACTED], is it valid?"}
    ]
    assert key not in json.dumps(events)
    session = httpx.get(f"{server.url}/v1/sessions/secret-turn").json()
    assert key not in json.dumps(session)


def test_a_body_that_is_not_a_protocols_request_records_no_user_message(
    app_url: str, server: RunningServer
) -> None:
    ask(app_url, "/v1/responses", "not-json", content=b"not json at all")
    ask(app_url, "/v1/responses", "no-input", json={"model": "gpt-4.1"})
    for session_id in ("not-json", "no-input"):
        events = recorded(server.url, session_id)
        assert "user.message" not in [e["type"] for e in events]
        assert events[-1]["type"] == "final"


@pytest.mark.parametrize(
    ("path", "body", "fmt"),
    [
        ("/v1/responses", REQUESTS[0][2], "openai-responses"),
        ("/agent", REQUESTS[6][2], "ag-ui"),
        ("/api/chat", REQUESTS[7][2], "vercel-ai"),
        ("/v1/chat/completions", REQUESTS[3][2], "openai-chat"),
    ],
)
def test_a_session_with_the_users_turn_replays_its_stream_as_it_was(
    app_url: str, server: RunningServer, path: str, body: dict[str, Any], fmt: str
) -> None:
    # The user's message came in the request: a replay in the stream's own protocol
    # sends the stream the client saw, and nothing before it.
    session_id = f"replay-{fmt}"
    live = ask(app_url, path, session_id, json=body)
    assert recorded(server.url, session_id)[0]["type"] == "user.message"
    replay = httpx.get(
        f"{server.url}/v1/sessions/{session_id}/replay",
        params={"speed": "max", "format": fmt},
    )
    assert frames(replay.content) == frames(live.encode())


def frames(stream: bytes) -> list[tuple[str | None, Any]]:
    # Compared as JSON: the plain SSE replay writes JSON data compactly.
    def value(data: str) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            return data

    return [(f.event, value(f.data)) for f in parse_all(stream)]
