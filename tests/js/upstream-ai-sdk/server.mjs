// A chat route as an AI SDK app writes one: streamText over the SDK's own mock model,
// answered with toUIMessageStreamResponse, each call a new assistant message.
// Usage: node server.mjs — prints {"port": N} and serves POST /api/chat until killed.
import { createServer } from "node:http";
import { Readable } from "node:stream";
import { convertToModelMessages, streamText } from "ai";
import { MockLanguageModelV3, simulateReadableStream } from "ai/test";

let calls = 0;

function model(answer) {
  const usage = {
    inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: 4, text: 4, reasoning: 0 },
  };
  const chunks = [
    { type: "stream-start", warnings: [] },
    { type: "text-start", id: "t0" },
    ...answer.split(/(?<= )/).map((delta) => ({ type: "text-delta", id: "t0", delta })),
    { type: "text-end", id: "t0" },
    { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage },
  ];
  return new MockLanguageModelV3({
    doStream: async () => ({ stream: simulateReadableStream({ chunks }) }),
  });
}

const server = createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  const { messages } = JSON.parse(body);
  const call = ++calls;
  const asked = messages.at(-1).parts.map((p) => p.text ?? "").join("");
  const result = streamText({
    model: model(`Answer ${call} to: ${asked}`),
    messages: await convertToModelMessages(messages),
  });
  const response = result.toUIMessageStreamResponse({
    originalMessages: messages,
    generateMessageId: () => `msg-${call}`,
    messageMetadata: ({ part }) =>
      part.type === "finish" ? { usage: part.totalUsage } : undefined,
  });
  res.writeHead(response.status, Object.fromEntries(response.headers));
  Readable.fromWeb(response.body).pipe(res);
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
