// Baseline for the live fan-out benchmark: the smallest honest SSE broadcast
// server one would write with node:http alone. POST /publish takes one event
// (or a JSON array of them), gives each the next seq, builds the same envelope replaydeck streams, encodes
// the frame once and writes it to every open GET /stream response.
// Usage: node broadcast.js PORT [HEARTBEAT_MS]
'use strict';
const http = require('node:http');

const port = Number(process.argv[2]);
const heartbeatMs = Number(process.argv[3] || 15000);
const subscribers = new Set();
let seq = 0;
let firstTs = null;

function publish(event) {
  seq += 1;
  const now = Date.now();
  if (firstTs === null) firstTs = now;
  const envelope = {
    seq,
    id: event.id || `n${seq}`,
    type: event.type,
    ts: new Date(now).toISOString(),
    offset_ms: now - firstTs,
    data: event.data,
  };
  const frame = `id: ${seq}\nevent: ${event.type}\ndata: ${JSON.stringify(envelope)}\n\n`;
  for (const res of subscribers) res.write(frame);
  return seq;
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/stream')) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 3000\n\n');
    subscribers.add(res);
    req.on('close', () => subscribers.delete(res));
    return;
  }
  if (req.method === 'POST' && req.url.startsWith('/publish')) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let event;
      try {
        event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ detail: 'body is not JSON' }));
        return;
      }
      // One event or a JSON array of them (a batch), as replaydeck's append takes.
      const seqs = (Array.isArray(event) ? event : [event]).map(publish);
      const s = seqs[seqs.length - 1];
      const body = JSON.stringify({ seqs, last_seq: s });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  res.writeHead(404);
  res.end();
});

// One shared timer for every connection's keep-alive comment.
setInterval(() => {
  for (const res of subscribers) res.write(': keep-alive\n\n');
}, heartbeatMs).unref();

server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
