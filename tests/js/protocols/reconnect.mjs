// The `eventsource` package (the WHATWG EventSource for Node) reading a replay whose
// connection drops after every event frame: it reconnects by itself, sending the last
// id it got as Last-Event-ID, until the server answers 204 (nothing after it).
// Usage: node reconnect.mjs URL EVENT_NAME... — prints every event it dispatched, as
// JSON [{"id", "event", "data"}], and the Last-Event-ID of each connection after the first.
import { EventSource } from "eventsource";

const [url, ...names] = process.argv.slice(2);
const resumedWith = [];

// A fetch whose body ends right after the first frame that carries data: the
// connection "drops" there, and EventSource does what it does on a drop.
async function dropAfterOneFrame(input, init) {
  const last = new Headers(init?.headers).get("last-event-id");
  if (last !== null) resumedWith.push(last);
  const response = await fetch(input, init);
  if (response.status !== 200 || response.body === null) return response;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  const body = new ReadableStream({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) return controller.close();
      pending += decoder.decode(value, { stream: true });
      const blocks = pending.split("\n\n");
      pending = blocks.pop();
      for (const block of blocks) {
        controller.enqueue(encoder.encode(`${block}\n\n`));
        if (/^data:/m.test(block)) {
          await reader.cancel();
          return controller.close();
        }
      }
    },
    cancel: () => reader.cancel(),
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

const got = [];
const source = new EventSource(url, { fetch: dropAfterOneFrame });
for (const name of ["message", ...names]) {
  source.addEventListener(name, (e) => got.push({ id: e.lastEventId, event: e.type, data: e.data }));
}
await new Promise((resolve) => {
  source.onerror = () => {
    // A 204 ends it for good (CLOSED); a drop is followed by a reconnect (CONNECTING).
    if (source.readyState === EventSource.CLOSED) resolve();
  };
});
console.log(JSON.stringify({ events: got, resumedWith }));
