// A UI message stream written by the AI SDK itself, with the parts of a tool approval
// flow, reasoning and an app's own data part. Usage: node parts.mjs — prints the SSE
// body that createUIMessageStreamResponse sends.
import { createUIMessageStream, createUIMessageStreamResponse } from "ai";

const stream = createUIMessageStream({
  execute({ writer }) {
    writer.write({ type: "start", messageId: "msg_1" });
    writer.write({ type: "reasoning-start", id: "r1" });
    writer.write({ type: "reasoning-delta", id: "r1", delta: "Needs the weather." });
    writer.write({ type: "reasoning-end", id: "r1" });
    writer.write({
      type: "tool-input-available",
      toolCallId: "c1",
      toolName: "bookFlight",
      input: { to: "Berlin" },
    });
    writer.write({ type: "tool-approval-request", approvalId: "a1", toolCallId: "c1" });
    writer.write({ type: "tool-output-denied", toolCallId: "c1" });
    writer.write({ type: "data-weather", id: "w1", data: { city: "Berlin", celsius: 12 } });
    writer.write({ type: "finish", messageMetadata: { usage: { inputTokens: 8 } } });
  },
});
process.stdout.write(await createUIMessageStreamResponse({ stream }).text());
