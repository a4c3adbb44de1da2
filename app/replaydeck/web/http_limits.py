"""Bounds on the request head for uvicorn's httptools protocol, and problem+json for bad heads.

httptools buffers a request line and headers of any size (a 20 MB header is
accepted) and uvicorn has no deadline for a head that trickles in, so one
client can hold memory or sockets without limit. This subclass refuses a head
larger than `max_head_bytes` with 431 and closes a connection whose head is not
complete within `head_timeout` seconds with 408. Bodies are not timed: NDJSON
ingest may legitimately stream for a long time, and the app bounds their size.
A head the parser cannot read (both Content-Length and Transfer-Encoding, a
negative Content-Length, a NUL in a header …) is answered with a 400 problem
naming the parser's reason, where uvicorn would send a text/plain 400.

Hand-written because uvicorn offers these limits only for h11
(`h11_max_incomplete_event_size`, and no head timeout at all); h11 would cost
the fast parser for every request.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a head found too large there."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = 64 * 1024
    head_timeout = 10.0

    # Slots, not attributes set later: adding them to uvicorn's already full
    # instance dict after __init__ made it grow, ~1.5 KiB per connection.
    __slots__ = (
        "_head_bytes",
        "_head_exact",
        "_head_open",
        "_head_timer",
        "_metering",
        "_refusal",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The next bytes belong to a request head (or to the gap before one).
        self._head_open = True
        # Bytes received since the current head began; exact when `_head_exact`.
        self._head_bytes = 0
        self._head_exact = True
        self._metering = True
        self._head_timer: asyncio.TimerHandle | None = None
        # A refusal waiting for the answers to the requests before it (_refuse).
        self._refusal: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # the connection closes after the refusal: the rest is not read
        if not self._head_open:
            super().data_received(data)  # a body: the app bounds it
            return
        # A head is being read: parse no more than the limit allows, so a head
        # that arrives whole in one read is measured as exactly as a trickled one.
        self._metering = True
        budget = self.max_head_bytes - self._head_bytes
        if len(data) <= budget:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        self._head_bytes = self.max_head_bytes
        if budget > 0:
            super().data_received(data[:budget])
        if self.transport.is_closing():
            return
        if self._head_open and self._head_bytes >= self.max_head_bytes:
            # The limit is reached and the head goes on: refused without reading the rest.
            self._too_large()
            return
        self.data_received(data[budget:])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A request that began inside a read that started in an earlier request's
        # body (pipelining) was not metered from its first byte; its size is
        # checked from what the parser reports instead (on_headers_complete).
        self._head_exact = self._metering
        if self._head_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._disarm()
        if not self._head_exact and self._parsed_head_bytes() > self.max_head_bytes:
            raise _HeadTooLarge
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open = True
        self._head_bytes = 0
        self._metering = False

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this while handling the parser's error, so that error is
        # at hand: its reason goes into the problem instead of a text/plain line.
        if self.transport.is_closing():
            return
        error = sys.exception()
        if isinstance(error, httptools.HttpParserCallbackError) and isinstance(
            error.__context__, _HeadTooLarge
        ):
            self._too_large()
            return
        reason = ""
        if isinstance(error, httptools.HttpParserError) and not isinstance(
            error, httptools.HttpParserCallbackError
        ):
            reason = f" ({str(error).rstrip('.')})"
        self._refuse(
            400,
            "invalid-request",
            "The request could not be read",
            f"The request line or headers are not valid HTTP/1.1{reason}; nothing was "
            "processed. Send one Content-Length (a whole number) or Transfer-Encoding, "
            "not both, and header values without control characters.",
        )

    def _parsed_head_bytes(self) -> int:
        # The fewest bytes that could have carried this request line and these
        # headers ("M url HTTP/v\n", each header "name:value\n", a blank "\n"):
        # a lower bound of the head's size.
        version = self.parser.get_http_version()
        lines = sum(len(name) + len(value) + 2 for name, value in self.headers)
        return len(self.parser.get_method()) + len(self.url) + len(version) + 9 + lines

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

    def _too_large(self) -> None:
        self._refuse(
            431,
            "headers-too-large",
            "The request headers are too large",
            f"The request line and headers exceed {self.max_head_bytes} bytes "
            "(REPLAYDECK_MAX_HEADER_BYTES); "
            "send smaller headers.",
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
        response = b"".join(
            [
                STATUS_LINE[status],
                b"content-type: application/problem+json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        cycle = self.cycle
        if self.pipeline or (cycle is not None and not cycle.response_complete):
            # HTTP/1.1 answers a connection's requests in order: a request before
            # this one (pipelined) is still being answered, so the refusal waits
            # for its turn (on_response_complete), and nothing more is read.
            self._refusal = response
            self.flow.pause_reading()
            return
        self.transport.write(response)
        self.transport.close()

    def on_response_complete(self) -> None:
        if self._refusal is None or self.pipeline:
            # Without a refusal, as ever; with one, the next request before it starts.
            super().on_response_complete()
            return
        response, self._refusal = self._refusal, None
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


def bounded_protocol(*, max_head_bytes: int, head_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class to pass as uvicorn's `http=`, with these limits."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout},
    )
