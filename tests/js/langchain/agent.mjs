// A LangGraph.js agent on a scripted chat model that streams its answer and calls a
// tool, traced by LangChain's own LangSmith tracer. It knows nothing of replaydeck:
// LANGSMITH_TRACING, LANGSMITH_ENDPOINT and LANGSMITH_API_KEY do everything.
// The pauses are the app's behaviour under test (the recorded rhythm), not waits.
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk, HumanMessage } from "@langchain/core/messages";
import { ChatGenerationChunk } from "@langchain/core/outputs";
import { tool } from "@langchain/core/tools";
import { awaitAllCallbacks } from "@langchain/core/callbacks/promises";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { ToolNode, toolsCondition } from "@langchain/langgraph/prebuilt";
import { z } from "zod";

const [question, first, answer, tokenPause, toolPause, threadId] = process.argv.slice(2);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const USAGE = [
  { input_tokens: 12, output_tokens: 7, total_tokens: 19 },
  { input_tokens: 30, output_tokens: 8, total_tokens: 38 },
];

class ScriptedModel extends BaseChatModel {
  constructor(script) {
    super({});
    this.script = script;
  }
  _llmType() {
    return "scripted";
  }
  bindTools() {
    return this;
  }
  async _generate() {
    throw new Error("the agent streams");
  }
  async *_streamResponseChunks(_messages, _options, runManager) {
    const step = this.script.shift();
    for (const word of step.content.split(" ")) {
      await pause(Number(tokenPause));
      const text = `${word} `;
      const chunk = new ChatGenerationChunk({ text, message: new AIMessageChunk({ content: text, id: step.id }) });
      yield chunk;
      await runManager?.handleLLMNewToken(text, undefined, undefined, undefined, undefined, { chunk });
    }
    const calls = (step.toolCalls ?? []).map((call, index) => ({
      name: call.name, args: JSON.stringify(call.args), id: call.id, index, type: "tool_call_chunk",
    }));
    yield new ChatGenerationChunk({
      text: "",
      message: new AIMessageChunk({ content: "", id: step.id, tool_call_chunks: calls, usage_metadata: step.usage }),
    });
  }
}

const getWeather = tool(
  async ({ city }) => {
    await pause(Number(toolPause)); // the tool's own work
    return `Sunny in ${city}`;
  },
  { name: "get_weather", description: "The weather in a city.", schema: z.object({ city: z.string() }) },
);

const model = new ScriptedModel([
  { id: "msg-1", content: first, usage: USAGE[0],
    toolCalls: [{ name: "get_weather", args: { city: "Paris" }, id: "call_weather_1" }] },
  { id: "msg-2", content: answer, usage: USAGE[1] },
]);

async function agent(state, config) {
  let full;
  for await (const chunk of await model.stream(state.messages, config)) {
    full = full === undefined ? chunk : full.concat(chunk);
  }
  const message = new AIMessage({
    content: full.content, id: full.id, tool_calls: full.tool_calls, usage_metadata: full.usage_metadata,
  });
  return { messages: [message] };
}

const graph = new StateGraph(MessagesAnnotation)
  .addNode("agent", agent)
  .addNode("tools", new ToolNode([getWeather]))
  .addEdge(START, "agent")
  .addConditionalEdges("agent", toolsCondition, ["tools", END])
  .addEdge("tools", "agent")
  .compile();

const config = threadId ? { configurable: { thread_id: threadId } } : {};
await graph.invoke({ messages: [new HumanMessage(question)] }, config);
// LANGCHAIN_CALLBACKS_BACKGROUND=false makes the root run's end wait for its upload.
await awaitAllCallbacks();
