"""An OpenAI-compatible chat completions service, streaming, for recording in tests.

It stands in for the real LLM API when a recorded upstream is (re)recorded: the
first call of a turn answers with a `get_weather` tool call, the call after the
tool's result with text. Its bytes are what api.openai.com sends (one
`data: {...}` JSON chunk per event, `data: [DONE]` at the end), with per-call ids
and epoch times that differ on every run, as the real service's do.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

# Between chunks, as a model emits tokens; recorded, and replayed at this rhythm.
TOKEN_GAP = 0.02
ANSWER = ["It is ", "18 °C and ", "sunny in ", "Paris."]
ARGUMENT_PIECES = ['{"ci', 'ty": "Pa', 'ris"}']


def chunk(completion: str, created: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": completion,
        "object": "chat.completion.chunk",
        "created": created,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return (
        b"data: " + json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
    )


def tool_call_chunks(completion: str, created: int) -> list[bytes]:
    call = f"call_{uuid.uuid4().hex[:24]}"
    first = {
        "index": 0,
        "id": call,
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    pieces = [{"index": 0, "function": {"arguments": piece}} for piece in ARGUMENT_PIECES]
    return [
        chunk(completion, created, {"role": "assistant", "content": None, "tool_calls": [first]}),
        *[chunk(completion, created, {"tool_calls": [piece]}) for piece in pieces],
        chunk(completion, created, {}, "tool_calls"),
    ]


def answer_chunks(completion: str, created: int) -> list[bytes]:
    return [
        chunk(completion, created, {"role": "assistant", "content": ""}),
        *[chunk(completion, created, {"content": text}) for text in ANSWER],
        chunk(completion, created, {}, "stop"),
    ]


async def completions(request: Request) -> StreamingResponse:
    body = await request.json()
    completion = f"chatcmpl-{uuid.uuid4().hex[:29]}"
    created = int(time.time())
    after_tool = body["messages"][-1]["role"] == "tool"
    chunks = (
        answer_chunks(completion, created) if after_tool else tool_call_chunks(completion, created)
    )

    async def stream() -> AsyncIterator[bytes]:
        for data in chunks:
            yield data
            await asyncio.sleep(TOKEN_GAP)  # ok: the model's pace, not a wait in a test
        yield b"data: [DONE]\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"x-request-id": f"req_{uuid.uuid4().hex}"},
    )


def llm_app() -> Starlette:
    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
