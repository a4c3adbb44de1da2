// The official JS clients read a replaydeck replay in their own protocol.
// Usage: node read.mjs FORMAT REPLAY_URL — prints what the client assembled, as JSON:
// {"text", "toolCalls": [{"id", "name", "args"}], "toolResults": [{"id", "result"}], "usage"}
// (and "reasoning" from the AI SDK, AG-UI and OpenAI Responses, "items" from Responses);
// FORMAT vercel-ai-turns or ag-ui-turns prints a list, one entry a turn (see vercelAiTurns).
// Each client is given a `fetch` that answers its own request (a POST to the model or
// agent) with the replay, so the whole client stack (SSE parsing, schema validation,
// accumulation) reads replaydeck's bytes.
import { HttpAgent } from "@ag-ui/client";
import { DefaultChatTransport, readUIMessageStream } from "ai";
import OpenAI from "openai";

const [format, replayUrl] = process.argv.slice(2);
const replay = () => fetch(replayUrl);

async function openaiResponses() {
  const client = new OpenAI({ apiKey: "test", baseURL: "http://model.invalid/v1", fetch: replay });
  const stream = client.responses.stream({ model: "gpt-test", input: "Weather in Berlin?" });
  const response = await stream.finalResponse();
  const calls = response.output.filter((item) => item.type === "function_call");
  const reasoning = response.output.filter((item) => item.type === "reasoning");
  return {
    text: response.output_text,
    // The reasoning items' summaries (and reasoning text, where a model streams it).
    reasoning: reasoning
      .flatMap((item) => [...item.summary, ...(item.content ?? [])])
      .map((part) => part.text)
      .join(""),
    // The order of the output items, which the response keeps as they were streamed.
    items: response.output.map((item) => item.type),
    toolCalls: calls.map((c) => ({ id: c.call_id, name: c.name, args: JSON.parse(c.arguments) })),
    toolResults: [],
    usage: response.usage,
  };
}

async function openaiChat() {
  const client = new OpenAI({ apiKey: "test", baseURL: "http://model.invalid/v1", fetch: replay });
  const stream = client.chat.completions.stream({
    model: "gpt-test",
    messages: [{ role: "user", content: "Weather in Berlin?" }],
    stream_options: { include_usage: true },
  });
  const completion = await stream.finalChatCompletion();
  const message = completion.choices[0].message;
  return {
    text: message.content ?? "",
    toolCalls: (message.tool_calls ?? []).map((c) => ({
      id: c.id,
      name: c.function.name,
      args: JSON.parse(c.function.arguments),
    })),
    toolResults: [],
    usage: completion.usage,
  };
}

async function uiMessages() {
  const transport = new DefaultChatTransport({ api: "http://app.invalid/api/chat", fetch: replay });
  const stream = await transport.sendMessages({
    trigger: "submit-message",
    chatId: "chat-1",
    messageId: undefined,
    messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "Weather in Berlin?" }] }],
    abortSignal: undefined,
  });
  return readUIMessageStream({ stream, terminateOnError: true });
}

const textOf = (message) =>
  message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");

async function vercelAi() {
  let message;
  for await (const update of await uiMessages()) {
    message = update;
  }
  const tools = message.parts.filter((p) => p.type.startsWith("tool-"));
  return {
    text: textOf(message),
    reasoning: message.parts.filter((p) => p.type === "reasoning").map((p) => p.text).join(""),
    toolCalls: tools.map((p) => ({ id: p.toolCallId, name: p.type.slice(5), args: p.input })),
    toolResults: tools.map((p) => ({ id: p.toolCallId, result: p.output })),
    usage: message.metadata?.usage,
  };
}

async function agUi() {
  const agent = new HttpAgent({
    url: "http://agent.invalid/agent",
    fetch: replay,
    threadId: "thread-1",
    initialMessages: [{ id: "u1", role: "user", content: "Weather in Berlin?" }],
  });
  let finished;
  const { newMessages } = await agent.runAgent(
    { runId: "run-1" },
    { onRunFinishedEvent: ({ event }) => void (finished = event) },
  );
  const said = newMessages.filter((m) => m.role === "assistant");
  return {
    text: said.map((m) => m.content ?? "").join(""),
    toolCalls: said.flatMap((m) =>
      (m.toolCalls ?? []).map((c) => ({
        id: c.id,
        name: c.function.name,
        args: JSON.parse(c.function.arguments),
      })),
    ),
    toolResults: newMessages
      .filter((m) => m.role === "tool")
      .map((m) => ({ id: m.toolCallId, result: JSON.parse(m.content) })),
    reasoning: newMessages
      .filter((m) => m.role === "reasoning")
      .map((m) => m.content)
      .join(""),
    usage: finished?.usage?.[0],
  };
}

// A session of several turns: one entry a turn. The AI SDK's: each assistant message
// `readUIMessageStream` assembled (a `start` with a new id begins the next), as
// {"id", "text", "usage"}; AG-UI's: each run HttpAgent applied, {"runId", "text",
// "usage", "error"}.
async function vercelAiTurns() {
  const messages = new Map();
  for await (const message of await uiMessages()) {
    messages.set(message.id, message);
  }
  return [...messages.values()].map((m) => ({
    id: m.id,
    text: textOf(m),
    usage: m.metadata?.usage,
  }));
}

async function agUiTurns() {
  const agent = new HttpAgent({ url: "http://agent.invalid/agent", fetch: replay, threadId: "t" });
  const runs = [];
  await agent.runAgent(
    { runId: "run-1" },
    {
      onRunStartedEvent: ({ event }) => void runs.push({ runId: event.runId, text: "" }),
      onTextMessageContentEvent: ({ event }) => void (runs.at(-1).text += event.delta),
      onRunFinishedEvent: ({ event }) => void (runs.at(-1).usage = event.usage?.[0]),
      onRunErrorEvent: ({ event }) => void (runs.at(-1).error = event.message),
    },
  );
  return runs;
}

const readers = {
  "openai-responses": openaiResponses,
  "openai-chat": openaiChat,
  "vercel-ai": vercelAi,
  "ag-ui": agUi,
  "vercel-ai-turns": vercelAiTurns,
  "ag-ui-turns": agUiTurns,
};
console.log(JSON.stringify(await readers[format]()));
