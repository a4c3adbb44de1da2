// The official AG-UI client (HttpAgent) running several runs on one thread, each a POST
// of its own under one X-Replaydeck-Session id.
// Usage: node thread.mjs AGENT_URL SESSION_ID QUESTION... — prints, per run, the
// messages it added, its usage and the error it ended with (RUN_ERROR), as JSON.
import { HttpAgent } from "@ag-ui/client";

const [url, session, ...questions] = process.argv.slice(2);
const agent = new HttpAgent({
  url,
  threadId: session,
  headers: { "X-Replaydeck-Session": session },
});
const runs = [];
for (const [n, content] of questions.entries()) {
  agent.addMessage({ id: `u${n + 1}`, role: "user", content });
  const run = {};
  const { newMessages } = await agent.runAgent(
    { runId: `run-${n + 1}` },
    {
      onRunFinishedEvent: ({ event }) => void (run.usage = event.usage),
      onRunErrorEvent: ({ event }) => void (run.error = event.message),
    },
  );
  runs.push({ messages: newMessages.filter((m) => m.role !== "user"), ...run });
}
console.log(JSON.stringify(runs));
