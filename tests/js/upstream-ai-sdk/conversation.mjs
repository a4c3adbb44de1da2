// The AI SDK's chat transport (what useChat uses) holding a conversation of two user
// messages, each a POST of its own under one X-Replaydeck-Session id.
// Usage: node conversation.mjs API_URL SESSION_ID — prints the assistant messages as JSON.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [api, session] = process.argv.slice(2);
const transport = new DefaultChatTransport({ api, headers: { "X-Replaydeck-Session": session } });
const messages = [];
for (const [n, text] of ["Weather in Berlin?", "And in Paris?"].entries()) {
  messages.push({ id: `u${n + 1}`, role: "user", parts: [{ type: "text", text }] });
  const stream = await transport.sendMessages({
    trigger: "submit-message",
    chatId: session,
    messageId: undefined,
    messages,
    abortSignal: undefined,
  });
  let message;
  for await (const update of readUIMessageStream({ stream, terminateOnError: true })) {
    message = update;
  }
  messages.push(message);
}
console.log(JSON.stringify(messages.filter((m) => m.role === "assistant")));
