"""The agent under test: a weather assistant on an OpenAI-compatible streaming API.

One turn: ask the model (streaming, with a `get_weather` tool), run the tool it
calls, send the result back, stream the answer. It reports what it does as
replaydeck events, which a UI would show and the golden file pins down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from openai import OpenAI

Event = dict[str, Any]
MODEL = "gpt-4o-mini"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "celsius": 18, "sky": "sunny"}


def run_turn(client: OpenAI, question: str) -> Iterator[Event]:
    messages: list[Any] = [{"role": "user", "content": question}]
    yield {"type": "status", "data": {"label": "thinking"}}
    calls: dict[int, dict[str, Any]] = {}
    stream = client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, stream=True
    )
    for chunk in stream:
        pieces = (chunk.choices[0].delta.tool_calls if chunk.choices else None) or []
        for piece in pieces:
            call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = piece.id or call["id"]
            if piece.function is not None:
                call["name"] += piece.function.name or ""
                call["arguments"] += piece.function.arguments or ""
    messages.append(
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
                for call in calls.values()
            ],
        }
    )
    for call in calls.values():
        args = json.loads(call["arguments"])
        yield {
            "type": "tool.call",
            "data": {"name": call["name"], "args": args, "call_id": call["id"]},
        }
        result = get_weather(**args)
        yield {
            "type": "tool.result",
            "data": {"name": call["name"], "call_id": call["id"], "result": result},
        }
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
    answer = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    for chunk in answer:
        text = chunk.choices[0].delta.content if chunk.choices else None
        if text:
            yield {"type": "message.delta", "data": {"text": text, "message_id": chunk.id}}
    yield {"type": "final", "data": {}}
