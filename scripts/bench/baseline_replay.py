"""Baseline for the replay-timing benchmark: bare `loop.call_at` over the same deadlines.

A raw asyncio HTTP server, no framework. `GET /replay/<session>` answers with SSE
headers and schedules each pre-encoded frame of that session with `call_at` at
start + offset / speed, the same absolute deadlines replaydeck's replay uses. It
keeps its own lateness samples (loop time at the callback minus the deadline);
`GET /stats` returns them.
Run: python baseline_replay.py PORT SESSIONS.json   (SESSIONS: {id: [[offset_ms, frame], …]})
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import cast

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Connection: close\r\n\r\nretry: 3000\n\n"
)


class Replay(asyncio.Protocol):
    sessions: dict[str, list[tuple[float, bytes]]] = {}
    lateness_ms: list[float] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; cast, not assert.
        self.transport = cast(asyncio.Transport, transport)
        self.handles: list[asyncio.TimerHandle] = []
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        path = self.buffer.split(b" ", 2)[1].decode()
        if path == "/stats":
            body = json.dumps(Replay.lateness_ms).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            self.transport.close()
            return
        frames = self.sessions.get(path.removeprefix("/replay/"))
        if frames is None:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()
            return
        self.transport.write(HEAD)
        loop = asyncio.get_running_loop()
        start = loop.time()
        first = frames[0][0]
        last = len(frames) - 1
        for i, (offset_ms, frame) in enumerate(frames):
            due = start + (offset_ms - first) / 1000
            self.handles.append(loop.call_at(due, self.send, due, frame, i == last))

    def send(self, due: float, frame: bytes, last: bool) -> None:
        Replay.lateness_ms.append((asyncio.get_running_loop().time() - due) * 1000)
        self.transport.write(frame)
        if last:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in self.handles:
            handle.cancel()


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Replay, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path) as f:
        raw = json.load(f)
    Replay.sessions = {sid: [(o, fr.encode()) for o, fr in frames] for sid, frames in raw.items()}
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port))
    else:  # the same loop replaydeck runs on, so the comparison is about the code
        uvloop.run(serve(port))


if __name__ == "__main__":
    main()
