// The official AG-UI client (HttpAgent) on a recorded upstream.
// Usage: node run.mjs AGENT_URL — prints the messages the run added, as JSON.
import { HttpAgent } from "@ag-ui/client";

const agent = new HttpAgent({
  url: process.argv[2],
  threadId: "thread_42",
  initialMessages: [{ id: "u1", role: "user", content: "How does SSE retry work?" }],
});
const { newMessages } = await agent.runAgent({ runId: "run_7" });
console.log(JSON.stringify(newMessages));
