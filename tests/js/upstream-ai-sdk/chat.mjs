// The AI SDK's own chat client (the transport behind useChat) on a recorded upstream.
// Usage: node chat.mjs API_URL — prints the assistant message it assembled, as JSON.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const transport = new DefaultChatTransport({ api: process.argv[2] });
const stream = await transport.sendMessages({
  trigger: "submit-message",
  chatId: "chat-1",
  messageId: undefined,
  messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "Weather in Berlin?" }] }],
  abortSignal: undefined,
});
let message;
for await (const update of readUIMessageStream({ stream, terminateOnError: true })) {
  message = update;
}
console.log(JSON.stringify(message));
