// A chat route's answer as the AI SDK writes it: streamText over its mock model, whose
// provider reports cached and reasoning tokens, and the run's total usage sent to the
// client in the message's metadata (the AI SDK docs' "Message Metadata" pattern).
// Usage: node usage.mjs — prints the SSE body that createUIMessageStreamResponse sends.
import {
  createUIMessageStreamResponse,
  simulateReadableStream,
  streamText,
  toUIMessageStream,
} from "ai";
import { MockLanguageModelV4 } from "ai/test";

const model = new MockLanguageModelV4({
  doStream: async () => ({
    stream: simulateReadableStream({
      chunks: [
        { type: "reasoning-start", id: "r1" },
        { type: "reasoning-delta", id: "r1", delta: "Short answer." },
        { type: "reasoning-end", id: "r1" },
        { type: "text-start", id: "t1" },
        { type: "text-delta", id: "t1", delta: "Sunny." },
        { type: "text-end", id: "t1" },
        {
          type: "finish",
          finishReason: { unified: "stop", raw: undefined },
          usage: {
            inputTokens: { total: 30, noCache: 20, cacheRead: 10, cacheWrite: 0 },
            outputTokens: { total: 12, text: 8, reasoning: 4 },
          },
        },
      ],
      initialDelayInMs: null,
      chunkDelayInMs: null,
    }),
  }),
});

const result = streamText({ model, prompt: "Weather in Berlin?" });
const stream = toUIMessageStream({
  stream: result.stream,
  messageMetadata: ({ part }) => (part.type === "finish" ? { usage: part.totalUsage } : undefined),
});
process.stdout.write(await createUIMessageStreamResponse({ stream }).text());
