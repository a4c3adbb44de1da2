"""A scripted model service built from the `openai` package's own types, for agent runs.

It answers like the API: a first call asks for the `get_weather` tool; a call whose
input already holds the tool's output answers in text. `"stream": true` gets the
streaming events (derived from the final `Response` / `ChatCompletion` the way the API
streams them), anything else the JSON object itself. Each answer has its own id and
usage, so the turns of a run can be told apart.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import (
    Choice as ChunkChoice,
)
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from openai.types.completion_usage import CompletionUsage
from openai.types.responses import (
    Response as ModelResponse,
)
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_reasoning_summary_part_added_event import (
    Part as AddedPart,
)
from openai.types.responses.response_reasoning_summary_part_done_event import Part as DonePart
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from replaydeck.capture.sdk import Recorder

ANSWER = ["It is 18°C ", "and sunny ", "in Paris."]
# A reasoning model's summary of its thinking, streamed before its answer.
THOUGHT = ["The user wants ", "the weather."]
ARGUMENTS = ['{"city": ', '"Paris"}']
CREATED = 1764000000


def responses_usage(given: int, taken: int) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=given,
        input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
        output_tokens=taken,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        total_tokens=given + taken,
    )


def model_response(n: int, answered: bool) -> ModelResponse:
    """The n-th answer: the tool call, or (once the tool has answered) the text."""
    item: ResponseFunctionToolCall | ResponseOutputMessage
    if answered:
        text = ResponseOutputText(type="output_text", text="".join(ANSWER), annotations=[])
        item = ResponseOutputMessage(
            id=f"msg_{n}", type="message", role="assistant", status="completed", content=[text]
        )
    else:
        item = ResponseFunctionToolCall(
            id=f"fc_{n}",
            type="function_call",
            call_id=f"call_{n}",
            name="get_weather",
            arguments="".join(ARGUMENTS),
            status="completed",
        )
    return ModelResponse(
        id=f"resp_{n}",
        object="response",
        created_at=CREATED + n,
        model="gpt-4.1",
        status="completed",
        output=[item],
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        usage=responses_usage(20 * n, 5 * n),
    )


def response_events(final: ModelResponse) -> list[ResponseStreamEvent]:
    """The streaming events the API sends for `final`, in its order."""
    seq = itertools.count()
    events: list[ResponseStreamEvent] = []
    started = final.model_copy(update={"status": "in_progress", "output": [], "usage": None})
    events.append(
        ResponseCreatedEvent(type="response.created", response=started, sequence_number=next(seq))
    )
    for index, item in enumerate(final.output):
        common: dict[str, Any] = {"output_index": index}
        if isinstance(item, ResponseOutputMessage):
            open_item = item.model_copy(update={"status": "in_progress", "content": []})
            part = ResponseOutputText(type="output_text", text="", annotations=[])
            at = {**common, "item_id": item.id, "content_index": 0}
            events += [
                ResponseOutputItemAddedEvent(
                    type="response.output_item.added",
                    item=open_item,
                    sequence_number=next(seq),
                    **common,
                ),
                ResponseContentPartAddedEvent(
                    type="response.content_part.added", part=part, sequence_number=next(seq), **at
                ),
            ]
            events += [
                ResponseTextDeltaEvent(
                    type="response.output_text.delta",
                    delta=piece,
                    logprobs=[],
                    sequence_number=next(seq),
                    **at,
                )
                for piece in ANSWER
            ]
            done_part = item.content[0]
            events += [
                ResponseTextDoneEvent(
                    type="response.output_text.done",
                    text="".join(ANSWER),
                    logprobs=[],
                    sequence_number=next(seq),
                    **at,
                ),
                ResponseContentPartDoneEvent(
                    type="response.content_part.done",
                    part=done_part,  # type: ignore[arg-type]
                    sequence_number=next(seq),
                    **at,
                ),
            ]
        elif isinstance(item, ResponseReasoningItem):
            events += reasoning_events(item, seq, index)
        elif isinstance(item, ResponseFunctionToolCall):
            open_call = item.model_copy(update={"status": "in_progress", "arguments": ""})
            events.append(
                ResponseOutputItemAddedEvent(
                    type="response.output_item.added",
                    item=open_call,
                    sequence_number=next(seq),
                    **common,
                )
            )
            events += [
                ResponseFunctionCallArgumentsDeltaEvent(
                    type="response.function_call_arguments.delta",
                    item_id=str(item.id),
                    delta=piece,
                    sequence_number=next(seq),
                    **common,
                )
                for piece in ARGUMENTS
            ]
            events.append(
                ResponseFunctionCallArgumentsDoneEvent(
                    type="response.function_call_arguments.done",
                    item_id=str(item.id),
                    arguments=item.arguments,
                    sequence_number=next(seq),
                    **common,
                )
            )
        events.append(
            ResponseOutputItemDoneEvent(
                type="response.output_item.done", item=item, sequence_number=next(seq), **common
            )
        )
    events.append(
        ResponseCompletedEvent(type="response.completed", response=final, sequence_number=next(seq))
    )
    return events


def reasoning_events(
    item: ResponseReasoningItem, seq: Iterator[int], index: int
) -> list[ResponseStreamEvent]:
    """A reasoning item's summary as the API streams it, one summary part of THOUGHT."""
    at: dict[str, Any] = {"output_index": index, "item_id": item.id, "summary_index": 0}
    done_part = item.summary[0]
    return [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=item.model_copy(update={"summary": []}),
            sequence_number=next(seq),
            output_index=index,
        ),
        ResponseReasoningSummaryPartAddedEvent(
            type="response.reasoning_summary_part.added",
            part=AddedPart(type="summary_text", text=""),
            sequence_number=next(seq),
            **at,
        ),
        *(
            ResponseReasoningSummaryTextDeltaEvent(
                type="response.reasoning_summary_text.delta",
                delta=piece,
                sequence_number=next(seq),
                **at,
            )
            for piece in THOUGHT
        ),
        ResponseReasoningSummaryTextDoneEvent(
            type="response.reasoning_summary_text.done",
            text=done_part.text,
            sequence_number=next(seq),
            **at,
        ),
        ResponseReasoningSummaryPartDoneEvent(
            type="response.reasoning_summary_part.done",
            part=DonePart(type="summary_text", text=done_part.text),
            sequence_number=next(seq),
            **at,
        ),
    ]


def chat_completion(n: int, answered: bool) -> ChatCompletion:
    if answered:
        message = ChatCompletionMessage(role="assistant", content="".join(ANSWER))
        reason = "stop"
    else:
        call = ChatCompletionMessageFunctionToolCall(
            id=f"call_{n}",
            type="function",
            function=Function(name="get_weather", arguments="".join(ARGUMENTS)),
        )
        message = ChatCompletionMessage(role="assistant", content=None, tool_calls=[call])
        reason = "tool_calls"
    return ChatCompletion(
        id=f"chatcmpl-{n}",
        object="chat.completion",
        created=CREATED + n,
        model="gpt-4.1-mini",
        choices=[Choice(index=0, message=message, finish_reason=reason)],  # type: ignore[arg-type]
        usage=CompletionUsage(prompt_tokens=20 * n, completion_tokens=5 * n, total_tokens=25 * n),
    )


def chat_chunks(completion: ChatCompletion) -> list[ChatCompletionChunk]:
    """The chunks the API streams for `completion` (with `include_usage`)."""

    def chunk(delta: ChoiceDelta | None, finish: Any = None, **extra: Any) -> ChatCompletionChunk:
        choices = [] if delta is None else [ChunkChoice(index=0, delta=delta, finish_reason=finish)]
        return ChatCompletionChunk(
            id=completion.id,
            object="chat.completion.chunk",
            created=completion.created,
            model=completion.model,
            choices=choices,
            **extra,
        )

    choice = completion.choices[0]
    chunks = [chunk(ChoiceDelta(role="assistant", content=""))]
    chunks += [chunk(ChoiceDelta(content=piece)) for piece in ANSWER if choice.message.content]
    for index, call in enumerate(choice.message.tool_calls or []):
        assert isinstance(call, ChatCompletionMessageFunctionToolCall)
        for number, piece in enumerate(ARGUMENTS):
            if number == 0:
                function = ChoiceDeltaToolCallFunction(name=call.function.name, arguments=piece)
                first = ChoiceDeltaToolCall(
                    index=index, id=call.id, type="function", function=function
                )
                chunks.append(chunk(ChoiceDelta(tool_calls=[first])))
            else:
                function = ChoiceDeltaToolCallFunction(arguments=piece)
                chunks.append(
                    chunk(
                        ChoiceDelta(
                            tool_calls=[ChoiceDeltaToolCall(index=index, function=function)]
                        )
                    )
                )
    chunks.append(chunk(ChoiceDelta(), finish=choice.finish_reason))
    chunks.append(chunk(None, usage=completion.usage))
    return chunks


def model_app(recorder: Recorder | None = None) -> FastAPI:
    """The service; with the `recorder` of a RecordingMiddleware around it, its lifespan
    closes that recorder on the server's own loop, where the sessions ran."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if recorder is not None:
            await recorder.aclose()

    app = FastAPI(lifespan=lifespan)
    calls = itertools.count(1)

    async def stream(frames: list[bytes]) -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame

    def sse(frames: list[bytes]) -> StreamingResponse:
        return StreamingResponse(stream(frames), media_type="text/event-stream")

    @app.post("/v1/responses")
    async def responses(request: Request) -> Response:
        body = await request.json()
        given = body.get("input")
        answered = isinstance(given, list) and any(
            isinstance(item, dict) and item.get("type") == "function_call_output" for item in given
        )
        final = model_response(next(calls), answered)
        if not body.get("stream"):
            return JSONResponse(json.loads(final.model_dump_json()))
        return sse(
            [
                f"event: {event.type}\ndata: {event.model_dump_json()}\n\n".encode()
                for event in response_events(final)
            ]
        )

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        answered = any(m.get("role") == "tool" for m in body.get("messages", []))
        completion = chat_completion(next(calls), answered)
        if not body.get("stream"):
            return JSONResponse(json.loads(completion.model_dump_json()))
        # The API leaves out what a chunk does not set; a `"type": null` on a tool
        # call's later pieces would break the SDK's own accumulator.
        frames = [
            f"data: {c.model_dump_json(exclude_unset=True)}\n\n".encode()
            for c in chat_chunks(completion)
        ]
        return sse([*frames, b"data: [DONE]\n\n"])

    return app
