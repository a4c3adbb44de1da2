// A plain node:http SSE app for the proxy tests and the benchmark; no npm packages.
// It prints {"port": N} on its first stdout line. Every SSE event carries `sent_at`
// (epoch ms, sub-millisecond) so a client can measure send-to-receive gaps.
"use strict";
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const { performance } = require("node:perf_hooks");

const now = () => performance.timeOrigin + performance.now();
const stats = { opened: 0, completed: 0, aborted: 0, abortedAt: [] };
const gates = new Map(); // stream name -> resolve function of the pending step
const SAMPLES = path.join(__dirname, "..", "samples");

function sse(res, extra = {}) {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    ...extra,
  });
  res.flushHeaders();
  stats.opened += 1;
  res.on("close", () => {
    if (res.writableEnded) {
      stats.completed += 1;
    } else {
      stats.aborted += 1;
      stats.abortedAt.push(now());
    }
  });
}

function frame(res, event, data) {
  const lines = event ? `event: ${event}\n` : "";
  res.write(`${lines}data: ${JSON.stringify({ ...data, sent_at: now() })}\n\n`);
}

function step(name) {
  return new Promise((resolve) => gates.set(name, resolve));
}

const routes = {
  // n events; each after the test says POST /next?name=..., so buffering anywhere would hang.
  async "/gated"(req, res, url) {
    const name = url.searchParams.get("name") || "gated";
    const n = Number(url.searchParams.get("n") || 3);
    sse(res);
    res.write(": opened\n\n");
    for (let i = 0; i < n; i += 1) {
      if (i > 0) await step(name);
      frame(res, "message.delta", { text: `part ${i}` });
    }
    await step(name);
    res.write("data: not json, just words\n\n");
    frame(res, "final", {});
    res.end();
  },
  // One event at once, then more every 50 ms until the client goes away.
  async "/forever"(req, res) {
    sse(res);
    frame(res, "status", { label: "started" });
    const timer = setInterval(() => frame(res, "status", { label: "tick" }), 50);
    res.on("close", () => clearInterval(timer));
  },
  // A recorded sample of a protocol, one frame every `gap` ms.
  async "/sample"(req, res, url) {
    const file = url.searchParams.get("file");
    const gap = Number(url.searchParams.get("gap") || 5);
    const headers = file === "vercel_ai.sse" ? { "x-vercel-ai-ui-message-stream": "v1" } : {};
    const body = fs.readFileSync(path.join(SAMPLES, path.basename(file)), "utf8");
    sse(res, headers);
    for (const block of body.split("\n\n").filter((b) => b.trim())) {
      res.write(`${block}\n\n`);
      await new Promise((resolve) => setTimeout(resolve, gap));
    }
    res.end();
  },
  // The first event at once: what the benchmark times.
  async "/first"(req, res) {
    sse(res);
    frame(res, "message.delta", { text: "first" });
    res.end();
  },
  async "/next"(req, res, url) {
    const name = url.searchParams.get("name") || "gated";
    const resolve = gates.get(name);
    gates.delete(name);
    if (resolve) resolve();
    res.writeHead(resolve ? 204 : 409).end();
  },
  async "/stats"(req, res) {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(stats));
  },
  // Not SSE: must pass through the proxy untouched, body and headers.
  async "/echo"(req, res, url) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    res.writeHead(201, {
      "content-type": req.headers["content-type"] || "application/octet-stream",
      "x-echo-method": req.method,
      "x-echo-query": url.search,
      "x-echo-accept-encoding": req.headers["accept-encoding"] || "",
      "x-echo-forwarded-for": req.headers["x-forwarded-for"] || "",
    });
    res.end(Buffer.concat(chunks));
  },
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  const route = routes[url.pathname];
  if (!route) {
    res.writeHead(404, { "content-type": "text/plain" }).end("no such route\n");
    return;
  }
  route(req, res, url).catch((err) => {
    console.error(err);
    res.destroy();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.on("SIGTERM", () => process.exit(0));
