// Peer for the replay-timing benchmark: node:http replaying the same frames at
// the same absolute deadlines (start + offset), each with its own setTimeout
// computed from the deadline, not from the previous frame, so lateness does
// not add up along a stream.
// Usage: node replay.js PORT SESSIONS.json   (SESSIONS: {id: [[offset_ms, frame], ...]})
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const { performance } = require('node:perf_hooks');

const port = Number(process.argv[2]);
const sessions = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));

const server = http.createServer((req, res) => {
  const frames = sessions[req.url.replace(/^\/replay\//, '')];
  if (req.method !== 'GET' || frames === undefined) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.write('retry: 3000\n\n');
  const start = performance.now();
  const first = frames[0][0];
  const timers = [];
  frames.forEach(([offsetMs, frame], i) => {
    const due = start + (offsetMs - first);
    const fire = () => {
      res.write(frame);
      if (i === frames.length - 1) res.end();
    };
    timers.push(setTimeout(fire, Math.max(0, due - performance.now())));
  });
  req.on('close', () => timers.forEach(clearTimeout));
});

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
