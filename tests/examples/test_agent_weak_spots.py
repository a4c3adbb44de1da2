"""What the golden comparison forgives and what it reports, on the weather agent.

The known weak spots of snapshot tests on LLM output: the model re-chunks its text
on every call (forgiven: one message's deltas are joined), an agent change that
reorders tool events or adds a status line (reported as exactly that, not as every
later event changed). The failure messages below are what pytest prints; the README
shows them.
"""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from replaydeck.testing.cassette import Cassette, Chunk, Exchange
from replaydeck.testing.plugin import Golden
from replaydeck.testing.upstream import RecordedUpstream
from tests.examples.agent import run_turn

QUESTION = "What's the weather in Paris?"
RECORDING = Path(__file__).parent / "upstreams" / "test_agent_upstream" / "weather.json"

# Long lines: this is the output as printed, line for line.
REORDERED = """\
output differs from golden file tests/examples/golden/weather_agent.jsonl
event 2 (tool.result) moved to 1
events around the first (- expected, + actual):
      0  {"data":{"label":"thinking"},"type":"status"}
  -   1  {"data":{"args":{"city":"Paris"},"call_id":"<call_1>","name":"get_weather"},"type":"tool.call"}
  +   1  {"data":{"call_id":"<call_1>","name":"get_weather","result":{"celsius":18,"city":"Paris","sky":"sunny"}},"type":"tool.result"}
  -   2  {"data":{"call_id":"<call_1>","name":"get_weather","result":{"celsius":18,"city":"Paris","sky":"sunny"}},"type":"tool.result"}
  +   2  {"data":{"args":{"city":"Paris"},"call_id":"<call_1>","name":"get_weather"},"type":"tool.call"}
      3  {"data":{"text":"It is 18 °C and sunny in Paris."},"type":"message"}
      4  {"data":{},"type":"final"}
if the new output is right, run `pytest --golden-update` and commit the change"""  # noqa: E501

EXTRA_STATUS = """\
output differs from golden file tests/examples/golden/weather_agent.jsonl
event 1 (status) is new: the golden file does not have it
  expected: (absent)
  actual:   {"data":{"label":"calling get_weather"},"type":"status"}
  expected 5 events, got 6
events around the first (- expected, + actual):
      0  {"data":{"label":"thinking"},"type":"status"}
  -   1  {"data":{"args":{"city":"Paris"},"call_id":"<call_1>","name":"get_weather"},"type":"tool.call"}
  +   1  {"data":{"label":"calling get_weather"},"type":"status"}
  -   2  {"data":{"call_id":"<call_1>","name":"get_weather","result":{"celsius":18,"city":"Paris","sky":"sunny"}},"type":"tool.result"}
  +   2  {"data":{"args":{"city":"Paris"},"call_id":"<call_1>","name":"get_weather"},"type":"tool.call"}
  -   3  {"data":{"text":"It is 18 °C and sunny in Paris."},"type":"message"}
  +   3  {"data":{"call_id":"<call_1>","name":"get_weather","result":{"celsius":18,"city":"Paris","sky":"sunny"}},"type":"tool.result"}
if the new output is right, run `pytest --golden-update` and commit the change"""  # noqa: E501


def rechunked(exchange: Exchange) -> Exchange:
    """The same answer in other chunks: each text delta split in two frames."""
    chunks: list[Chunk] = []
    for chunk in exchange.response.chunks:
        text = chunk.data.decode()
        body = json.loads(text.removeprefix("data: ")) if "chat.completion.chunk" in text else None
        content = body["choices"][0]["delta"].get("content") if body else None
        if not content or len(content) < 2:
            chunks.append(chunk)
            continue
        for piece in (content[: len(content) // 2], content[len(content) // 2 :]):
            body["choices"][0]["delta"]["content"] = piece
            data = f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()
            chunks.append(Chunk(chunk.at_ms, data))
    response = exchange.response
    return Exchange(
        exchange.request,
        type(response)(response.status, response.headers, response.at_ms, tuple(chunks)),
    )


def agent_events(upstream: RecordedUpstream) -> list[dict[str, Any]]:
    client = OpenAI(
        base_url="http://llm.invalid/v1",
        api_key="sk-test",
        http_client=httpx.Client(transport=upstream),
    )
    return list(run_turn(client, QUESTION))


def deltas(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["text"] for e in events if e["type"] == "message.delta"]


def failure(golden: Golden, events: list[dict[str, Any]]) -> str:
    with pytest.raises(pytest.fail.Exception) as failed:
        golden.assert_match(events, "weather_agent")
    return str(failed.value)


def test_rechunked_text_passes(golden: Golden) -> None:
    call, answer = Cassette.load(RECORDING).exchanges
    other = rechunked(answer)
    assert len(other.response.chunks) > len(answer.response.chunks)
    events = agent_events(RecordedUpstream(exchanges=[call, other]))
    assert [e["data"]["text"] for e in events if e["type"] == "message.delta"] != [
        e["data"]["text"]
        for e in agent_events(RecordedUpstream(RECORDING))
        if e["type"] == "message.delta"
    ]
    golden.assert_match(events, "weather_agent")


def test_reordered_tool_events_are_reported_as_a_move(golden: Golden) -> None:
    events = agent_events(RecordedUpstream(RECORDING))
    # An agent change that reports the result before the call.
    events[1], events[2] = events[2], events[1]
    assert failure(golden, events) == REORDERED


def test_an_extra_status_event_is_reported_as_new(golden: Golden) -> None:
    events = agent_events(RecordedUpstream(RECORDING))
    events.insert(1, {"type": "status", "data": {"label": "calling get_weather"}})
    assert failure(golden, events) == EXTRA_STATUS
