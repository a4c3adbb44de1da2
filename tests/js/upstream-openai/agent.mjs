// The weather agent of tests/examples/agent.py, on the official OpenAI Node SDK.
// Usage: node agent.mjs BASE_URL — prints the turn's events, one JSON object a line.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "sk-test", maxRetries: 0 });
const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "The current weather in a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
}];
const emit = (type, data) => console.log(JSON.stringify({ type, data }));
const messages = [{ role: "user", content: "What's the weather in Paris?" }];

emit("status", { label: "thinking" });
const calls = new Map();
const first = await client.chat.completions.create({ model: "gpt-4o-mini", messages, tools, stream: true });
for await (const chunk of first) {
  for (const piece of chunk.choices[0]?.delta?.tool_calls ?? []) {
    const call = calls.get(piece.index) ?? { id: "", name: "", arguments: "" };
    call.id = piece.id ?? call.id;
    call.name += piece.function?.name ?? "";
    call.arguments += piece.function?.arguments ?? "";
    calls.set(piece.index, call);
  }
}
messages.push({
  role: "assistant",
  tool_calls: [...calls.values()].map((c) => ({
    id: c.id, type: "function", function: { name: c.name, arguments: c.arguments },
  })),
});
for (const call of calls.values()) {
  const args = JSON.parse(call.arguments);
  emit("tool.call", { name: call.name, args, call_id: call.id });
  const result = { city: args.city, celsius: 18, sky: "sunny" };
  emit("tool.result", { name: call.name, call_id: call.id, result });
  messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(result) });
}
const answer = await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
for await (const chunk of answer) {
  const text = chunk.choices[0]?.delta?.content;
  if (text) emit("message.delta", { text, message_id: chunk.id });
}
emit("final", {});
