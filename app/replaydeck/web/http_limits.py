"""Bounds on the request head for uvicorn's httptools protocol.

httptools buffers a request line and headers of any size (a 20 MB header is
accepted) and uvicorn has no deadline for a head that trickles in, so one
client can hold memory or sockets without limit. This subclass refuses a head
larger than `max_head_bytes` with 431 and closes a connection whose head is not
complete within `head_timeout` seconds with 408. Bodies are not timed: NDJSON
ingest may legitimately stream for a long time, and the app bounds their size.

Hand-written because uvicorn offers these limits only for h11
(`h11_max_incomplete_event_size`, and no head timeout at all); h11 would cost
the fast parser for every request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = 64 * 1024
    head_timeout = 10.0

    # Slots, not attributes set later: adding them to uvicorn's already full
    # instance dict after __init__ made it grow, ~1.5 KiB per connection.
    __slots__ = ("_head_bytes", "_head_open", "_head_timer")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_open and not self.transport.is_closing():
            # Counted after parsing: a chunk that completes the head closed it.
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(
                    431,
                    "headers-too-large",
                    "The request headers are too large",
                    f"The request line and headers exceed {self.max_head_bytes} bytes "
                    "(REPLAYDECK_MAX_HEADER_BYTES); "
                    "send smaller headers.",
                )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = True
        self._head_bytes = 0
        if self._head_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._head_open and not self.transport.is_closing():
            self._refuse(
                408,
                "request-timeout",
                "The request headers came too slowly",
                f"The request headers did not arrive within {self.head_timeout:g} s "
                "(REPLAYDECK_HEADER_TIMEOUT); "
                "send the whole request head at once.",
            )

    def _refuse(self, status: int, slug: str, title: str, detail: str) -> None:
        # The app never saw this request, so its problem handler cannot answer;
        # the body has the same problem+json shape.
        self._head_open = False
        self._disarm()
        body = orjson.dumps(
            {
                "type": f"urn:replaydeck:problem:{slug}",
                "title": title,
                "status": status,
                "detail": detail,
            }
        )
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: application/problem+json\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


def bounded_protocol(*, max_head_bytes: int, head_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class to pass as uvicorn's `http=`, with these limits."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout},
    )
