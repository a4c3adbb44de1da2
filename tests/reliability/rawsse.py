"""An EventSource-like client on a raw socket that can cut its connection at any byte.

HTTP framing (chunked encoding) is parsed by h11 and SSE by the capture
module's spec-following parser, so a cut can land anywhere, even inside a
chunk-size line, and only fully dispatched frames count, as in a browser.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Any

import anyio
import h11
import orjson
from anyio.abc import SocketAttribute

from replaydeck.formats.sse import SSEParser


@dataclass
class Connection:
    status: int | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    bytes_read: int = 0
    ended: bool = False  # the server finished the response


def request_bytes(path: str, last_event_id: int | None) -> tuple[h11.Connection, bytes]:
    http = h11.Connection(h11.CLIENT)
    headers = [("Host", "localhost"), ("Accept", "text/event-stream")]
    if last_event_id is not None:
        headers.append(("Last-Event-ID", str(last_event_id)))
    return http, http.send(h11.Request(method="GET", target=path, headers=headers)) or b""


async def reset(stream: anyio.abc.SocketStream) -> None:
    """Close with a TCP RST instead of a FIN, like a dropped mobile connection."""
    raw: socket.socket = stream.extra(SocketAttribute.raw_socket)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


async def open_and_read(
    port: int, path: str, last_event_id: int | None, *, cut_at: int | None, rst: bool
) -> Connection:
    """Read up to `cut_at` bytes of the response (all of it if None), then drop the socket."""
    http, request = request_bytes(path, last_event_id)
    parser = SSEParser()
    result = Connection()
    stream = await anyio.connect_tcp("127.0.0.1", port)
    try:
        await stream.send(request)
        while cut_at is None or result.bytes_read < cut_at:
            want = 65536 if cut_at is None else min(65536, cut_at - result.bytes_read)
            try:
                data = await stream.receive(want)
            except anyio.EndOfStream:
                break
            result.bytes_read += len(data)
            http.receive_data(data)
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    break
                if isinstance(event, h11.Response):
                    result.status = event.status_code
                elif isinstance(event, h11.Data):
                    for frame in parser.feed(bytes(event.data)):
                        result.frames.append(orjson.loads(frame.data))
                elif isinstance(event, h11.EndOfMessage):
                    result.ended = True
            if result.ended:
                break
    finally:
        if rst:
            await reset(stream)
        else:
            await stream.aclose()
    return result
