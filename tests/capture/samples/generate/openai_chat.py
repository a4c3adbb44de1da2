"""Writes openai_chat.sse: a Chat Completions stream built from the `openai` package's own
ChatCompletionChunk models, serialised with `model_dump_json(exclude_unset=True)`, close
to what the API sends (one `data:` line each, then `data: [DONE]`).
Run: python generate/openai_chat.py > openai_chat.sse"""

from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import (
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.completion_usage import CompletionUsage


def chunk(
    delta: ChoiceDelta | None, finish: str | None = None, usage: CompletionUsage | None = None
) -> str:
    choices = [] if delta is None else [Choice(index=0, delta=delta, finish_reason=finish)]
    value = ChatCompletionChunk(
        id="chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        object="chat.completion.chunk",
        created=1741569952,
        model="gpt-4.1-2025-04-14",
        system_fingerprint="fp_e2c5a1e0a0",
        service_tier="default",
        choices=choices,
        usage=usage,
    )
    return f"data: {value.model_dump_json(exclude_unset=True)}\n\n"


def call(index: int, arguments: str, call_id: str = "", name: str = "") -> ChoiceDelta:
    # Only the first piece names the call; the API leaves id, type and name out of the rest.
    if call_id:
        function = ChoiceDeltaToolCallFunction(name=name, arguments=arguments)
        tool = ChoiceDeltaToolCall(index=index, id=call_id, type="function", function=function)
    else:
        tool = ChoiceDeltaToolCall(
            index=index, function=ChoiceDeltaToolCallFunction(arguments=arguments)
        )
    return ChoiceDelta(tool_calls=[tool])


frames = [
    chunk(ChoiceDelta(role="assistant", content="")),
    chunk(ChoiceDelta(content="Let me check ")),
    chunk(ChoiceDelta(content="the weather in Paris.")),
    chunk(call(0, "", call_id="call_DdmO9pD3xa9XTPNJ32zg2hcA", name="get_weather")),
    chunk(call(0, '{"location":')),
    chunk(call(0, ' "Paris, France"}')),
    chunk(ChoiceDelta(), finish="tool_calls"),
    chunk(None, usage=CompletionUsage(prompt_tokens=61, completion_tokens=23, total_tokens=84)),
    "data: [DONE]\n\n",
]
print("".join(frames), end="")
