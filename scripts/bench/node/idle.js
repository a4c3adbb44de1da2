// Baseline for the idle-connections benchmark: node:http holding SSE streams
// open that carry nothing but a keep-alive comment from one shared timer.
// Usage: node idle.js PORT [HEARTBEAT_MS]
'use strict';
const http = require('node:http');

const port = Number(process.argv[2]);
const heartbeatMs = Number(process.argv[3] || 15000);
const subscribers = new Set();

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
  res.writeHead(404);
  res.end();
});

setInterval(() => {
  for (const res of subscribers) res.write(': keep-alive\n\n');
}, heartbeatMs).unref();

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
