"""A real Agents SDK agent on a fake Chat Completions server (no network).

The SDK's own OpenAIChatCompletionsModel talks to an `openai.AsyncOpenAI` whose HTTP
transport answers in-process: first a tool call, then the answer, so every span the
SDK makes (task, agent, turn, generation, function) is its own code's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    function_tool,
    set_trace_processors,
)
from agents.tracing import TracingProcessor
from openai import AsyncOpenAI

from tests.telemetry.recorded_run import ANSWER


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny, 21 C in {city}"


def _completion(message: dict[str, Any], finish: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


# The answer as a streamed model sends it, piece by piece.
PIECES = ("It is ", "sunny in Paris, ", "21 °C.")


def _chunks(body: dict[str, Any]) -> httpx.Response:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
                "model": "fake-model", "choices": [choice]}  # fmt: skip

    if body["messages"][-1]["role"] != "tool":
        call = {"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
        frames = [chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, "tool_calls")]
        usage = (12, 5)
    else:
        frames = [chunk({"role": "assistant", "content": piece}) for piece in PIECES]
        frames.append(chunk({}, "stop"))
        usage = (30, 9)
    tokens = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    frames.append({**chunk({}), "choices": [], "usage": tokens})
    text = "".join(f"data: {json.dumps(frame)}\n\n" for frame in frames) + "data: [DONE]\n\n"
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


def fake_chat(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if body.get("stream"):
        return _chunks(body)
    if body["messages"][-1]["role"] != "tool":
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return httpx.Response(200, json=_completion(message, "tool_calls", (12, 5)))
    message = {"role": "assistant", "content": ANSWER}
    return httpx.Response(200, json=_completion(message, "stop", (30, 9)))


def weather_agent() -> Agent[Any]:
    client = AsyncOpenAI(
        api_key="sk-test",
        base_url="http://model.invalid/v1",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(fake_chat)),
    )
    return Agent(
        name="Weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=OpenAIChatCompletionsModel(model="fake-model", openai_client=client),
    )


@contextmanager
def tracing_to(*processors: TracingProcessor) -> Iterator[None]:
    """The SDK's global processors for one test (the default one would call OpenAI)."""
    set_trace_processors(list(processors))
    try:
        yield
    finally:
        set_trace_processors([])


def _response(output: list[dict[str, Any]], usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": f"resp_{len(output)}{usage[0]}",
        "object": "response",
        "created_at": 1,
        "model": "fake-model",
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "total_tokens": sum(usage),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def fake_responses(request: httpx.Request) -> httpx.Response:
    """The Responses API's side: a function call, then (after its output) the answer."""
    body = json.loads(request.content)
    given = body["input"]
    if not any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in given):
        call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "status": "completed",
                "name": "get_weather", "arguments": '{"city": "Paris"}'}  # fmt: skip
        return httpx.Response(200, json=_response([call], (12, 5)))
    text = {"type": "output_text", "text": ANSWER, "annotations": []}
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
               "content": [text]}  # fmt: skip
    return httpx.Response(200, json=_response([message], (30, 9)))


def responses_agent() -> Agent[Any]:
    """The weather agent on the SDK's default model class, OpenAIResponsesModel."""
    client = AsyncOpenAI(
        api_key="sk-test",
        base_url="http://model.invalid/v1",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(fake_responses)),
    )
    agent = weather_agent()
    agent.model = OpenAIResponsesModel(model="fake-model", openai_client=client)
    return agent
