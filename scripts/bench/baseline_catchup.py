"""Baseline for the catch-up benchmark: raw sqlite3 fetch-and-write over the same rows.

A raw asyncio HTTP server, no framework, reading the very database file
replaydeck wrote. `GET /catchup/<session>` fetches the session's stored
envelopes in seq order, a page at a time, and writes each as an SSE frame.
Run: python baseline_catchup.py PORT DB_PATH
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from typing import cast

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Connection: close\r\n\r\nretry: 3000\n\n"
)
PAGE = 500


class CatchUp(asyncio.Protocol):
    db: sqlite3.Connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; cast, not assert.
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        session = self.buffer.split(b" ", 2)[1].decode().removeprefix("/catchup/")
        self.transport.write(HEAD)
        # Blocking reads on the loop are fine for a one-client baseline: it is
        # the floor of what fetching and writing these rows costs.
        cursor = self.db.execute(
            "SELECT seq, type, envelope FROM events WHERE session_id = ? ORDER BY seq", (session,)
        )
        while rows := cursor.fetchmany(PAGE):
            self.transport.write(
                b"".join(
                    b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, type_.encode(), envelope)
                    for seq, type_, envelope in rows
                )
            )
        self.transport.close()


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(CatchUp, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    CatchUp.db = sqlite3.connect(path)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port))
    else:
        uvloop.run(serve(port))


if __name__ == "__main__":
    main()
