"""A LangGraph agent on a fake chat model that streams its answer and calls a tool.

No network: the model is LangChain's own GenericFakeChatModel, taught to stream tool
calls (it streams only text) and to take its time between tokens like a real one. The
pauses are the app's behaviour under test (the recorded rhythm), not test waits.

Run as a script, it is an app configured by environment variables alone.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition

TOKEN_PAUSE_S = 0.03
TOOL_PAUSE_S = 0.2
QUESTION = "What is the weather in Paris?"
FIRST = "Let me check the weather."
ANSWER = "It is sunny in Paris today."
USAGE = [
    {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
    {"input_tokens": 30, "output_tokens": 8, "total_tokens": 38},
]


class StreamingToolModel(GenericFakeChatModel):
    """Streams each scripted message word by word, then its tool calls and usage."""

    pause: float = TOKEN_PAUSE_S

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> StreamingToolModel:
        return self

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = next(self.messages)
        assert isinstance(message, AIMessage)
        for word in str(message.content).split(" "):
            time.sleep(self.pause)  # the model thinking between tokens
            token = word + " "
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token, id=message.id))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        calls = [
            {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
            for i, c in enumerate(message.tool_calls)
        ]
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                id=message.id,
                tool_call_chunks=calls,  # type: ignore[arg-type]
                usage_metadata=message.usage_metadata,
                chunk_position="last",
            )
        )


class OverloadedModel(StreamingToolModel):
    """A model whose provider fails the call."""

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise ValueError("the model is overloaded")

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("the model is overloaded")


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    time.sleep(TOOL_PAUSE_S)  # the tool's own work
    return f"Sunny in {city}"


@tool
def broken_tool(city: str) -> str:
    """A tool that fails."""
    raise ValueError(f"no weather station in {city}")


def build(
    *, tool_name: str = "get_weather", overloaded: bool = False
) -> CompiledStateGraph[Any, Any, Any, Any]:
    call = {"name": tool_name, "args": {"city": "Paris"}, "id": "call_weather_1"}
    model = (OverloadedModel if overloaded else StreamingToolModel)(
        messages=iter(
            [
                AIMessage(content=FIRST, id="msg-1", tool_calls=[call], usage_metadata=USAGE[0]),  # type: ignore[arg-type]
                AIMessage(content=ANSWER, id="msg-2", usage_metadata=USAGE[1]),  # type: ignore[arg-type]
            ]
        )
    )

    def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather, broken_tool], handle_tool_errors=True))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def ask(graph: CompiledStateGraph[Any, Any, Any, Any], config: dict[str, Any]) -> None:
    for _ in graph.stream({"messages": [HumanMessage(QUESTION)]}, config, stream_mode="messages"):
        pass


if __name__ == "__main__":
    # An app that knows nothing of replaydeck: LANGSMITH_* variables do everything.
    from langchain_core.tracers.langchain import wait_for_all_tracers

    thread = sys.argv[1] if len(sys.argv) > 1 else None
    ask(build(), {"configurable": {"thread_id": thread}} if thread else {})
    wait_for_all_tracers()
