"""A local OTLP/HTTP receiver for the tracing benchmark: accepts and counts, keeps nothing.

`POST /v1/traces` answers 200 with an empty ExportTraceServiceResponse;
`GET /stats` returns {"requests": n, "bytes": n}. A raw asyncio server, so the
receiver costs as little CPU as possible next to the server being measured.
Run: python otlp_sink.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import cast

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"


class Sink(asyncio.Protocol):
    requests = 0
    received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; cast, not assert.
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith("GET /stats"):
                body = json.dumps({"requests": Sink.requests, "bytes": Sink.received}).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                continue
            Sink.requests += 1
            Sink.received += length
            self.transport.write(OK)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
