"""A pure ASGI middleware that records every `text/event-stream` response as a session.

    app = RecordingMiddleware(app, Recorder("http://127.0.0.1:8000"))

Each body chunk goes to the client first and is parsed afterwards, so the recording
never holds back or delays a byte; parsed events go to the session's bounded buffer
and a background sender (see sdk.py). The session id is, in order: the request's
`X-Replaydeck-Session` header, the route's `session_id` path parameter, or a new id;
it is returned in the `X-Replaydeck-Session` response header.

The request body is copied as the app reads it (up to `max_request_bytes`), and when
the response turns out to be a stream, what the user sent (formats/user_input.py)
becomes the session's first event, `user.message`, stamped with the time the body
arrived.

With `record_wire=True` the session also holds the exchange as it went over HTTP
(the request's method, path and body, the response's status, headers and every body
chunk; see wire.py), so that a test can play the upstream back byte for byte.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, which re-wraps streaming
responses through an extra queue and task per request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any

import orjson

from replaydeck.capture import wire
from replaydeck.capture.sdk import Clock, Recorder, RecordingSession, utc_now
from replaydeck.formats import (
    DECODE_FORMATS,
    Decoder,
    UnknownFormat,
    detect,
    make_decoder,
    normalize_format,
)
from replaydeck.formats.sse import SSEParser
from replaydeck.formats.user_input import user_message_from_body
from replaydeck.ids import is_session_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_HEADER = "x-replaydeck-session"
FORMAT_HEADER = b"x-replaydeck-format"
# Bodies larger than this are passed on without looking for the user's message in them.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
log = logging.getLogger("replaydeck.capture")


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def is_event_stream(headers: list[tuple[bytes, bytes]]) -> bool:
    content_type = header(headers, b"content-type") or ""
    encoding = header(headers, b"content-encoding")
    # A compressed stream cannot be parsed as it passes; it is forwarded, not recorded.
    return content_type.split(";")[0].strip().lower() == "text/event-stream" and (
        encoding is None or encoding.lower() == "identity"
    )


def has_json_body(headers: list[tuple[bytes, bytes]]) -> bool:
    if header(headers, b"content-length") in (None, "0") and not header(
        headers, b"transfer-encoding"
    ):
        return False
    content_type = (header(headers, b"content-type") or "").split(";")[0].strip().lower()
    return content_type in ("", "application/json", "text/plain") or content_type.endswith("+json")


def has_body(scope: Scope) -> bool:
    headers = scope.get("headers", [])
    return header(headers, b"content-length") not in (None, "0") or bool(
        header(headers, b"transfer-encoding")
    )


class RequestTap:
    """A copy of the request body as the app reads it, for the user's turn."""

    def __init__(self, receive: Receive, limit: int, clock: Clock) -> None:
        self._receive = receive
        self._limit = limit
        self._clock = clock
        self._chunks: list[bytes] = []
        self._size = 0
        self.complete = False
        self.arrived: datetime | None = None
        self.on_complete: Callable[[], None] | None = None

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or self.complete:
            return message
        chunk = message.get("body", b"")
        self._size += len(chunk)
        if self._size <= self._limit:
            self._chunks.append(chunk)
        if not message.get("more_body", False):
            self.complete = True
            self.arrived = self._clock()
            if self.on_complete is not None:
                self.on_complete()
        return message

    def body(self) -> bytes | None:
        """The whole body, or None when it was over the limit (or is not all read)."""
        if not self.complete or self._size > self._limit:
            return None
        return b"".join(self._chunks)


class StreamTee:
    """Turns the bytes of one SSE response into recorded events, as they pass."""

    def __init__(
        self,
        session: RecordingSession,
        fmt: str,
        headers: list[tuple[bytes, bytes]],
        clock: Clock = utc_now,
        *,
        wire: bool = False,
    ) -> None:
        self.session = session
        self.wire = wire
        self._headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        self._decoder: Decoder | None = None if fmt == "auto" else make_decoder(fmt)
        self._parser = SSEParser()
        self._clock = clock
        self._final = False
        self._failed = False
        self.ended = False

    def feed(self, chunk: bytes) -> None:
        if not chunk or self._final or self._failed:
            return
        try:
            self._feed(chunk)
        except Exception:
            # Recording must never break the app's stream: give up on this session only.
            self._failed = True
            log.exception("replaydeck: stopped recording session %s", self.session.id)

    def _feed(self, chunk: bytes) -> None:
        now = self._clock()
        if self.wire:
            # Before the frames' events: the chunk holding `final` must still be stored.
            for data in wire.chunk_data(chunk):
                self.session.emit_nowait(wire.CHUNK, data, ts=now)
        for frame in self._parser.feed(chunk):
            if self._decoder is None:
                self._decoder = make_decoder(detect(frame, self._headers))
            for event in self._decoder.decode(frame):
                if self._final:
                    return  # the store refuses appends after `final`
                self._final = event.type == "final"
                self.session.emit_nowait(event.type, event.data, ts=now)

    def wire_start(
        self, scope: Scope, tap: RequestTap | None, status: int, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """Record the request and the response's head (capture/wire.py)."""
        path = scope.get("raw_path") or scope.get("path", "/").encode()
        query = scope.get("query_string") or b""
        target = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        content_type = header(scope.get("headers", []), b"content-type") or ""
        body = tap.body() if tap is not None else b""
        request = wire.request_data(scope.get("method", "GET"), target, content_type, body)
        arrived = tap.arrived if tap is not None and tap.complete else None
        self.session.emit_nowait(wire.REQUEST, request, ts=arrived or self._clock())
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        self.session.emit_nowait(wire.RESPONSE, wire.response_data(status, pairs), ts=self._clock())

    def user_turn(self, tap: RequestTap) -> None:
        """Record what the user sent, now or once the app has read the whole body."""
        if not tap.complete:
            tap.on_complete = lambda: self.user_turn(tap)
            return
        body = tap.body()
        if body is None or self._final or self._failed:
            return
        try:
            data = user_message_from_body(body)
            if data is None:
                return
            if "content" in data and len(orjson.dumps(data)) > self.session.max_event_bytes:
                # Structured parts this large are mostly inline images or files: keep
                # the text, which is what a replay shows.
                data = {k: v for k, v in data.items() if k != "content"}
                data["content_omitted"] = True
            self.session.emit_nowait("user.message", data, ts=tap.arrived)
        except Exception:
            log.exception("replaydeck: could not record the user's message in %s", self.session.id)

    def end(self, reason: str) -> None:
        """Close the session's log: a stream that ended without `final` gets a marked one."""
        if self.ended:
            return
        self.ended = True
        if not self._final:
            self._final = True
            data = {"synthetic": True, "reason": "capture_error" if self._failed else reason}
            self.session.emit_nowait("final", data, ts=self._clock())


class RecordingMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        recorder: Recorder,
        *,
        format: str = "auto",
        session_header: str = SESSION_HEADER,
        path_param: str = "session_id",
        clock: Clock = utc_now,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        record_wire: bool = False,
    ) -> None:
        self.app = app
        self.record_wire = record_wire
        self.recorder = recorder
        self.format = normalize_format(format, DECODE_FORMATS)
        self.session_header = session_header.lower().encode("latin-1")
        self.path_param = path_param
        self.clock = clock
        self.max_request_bytes = max_request_bytes

    def stream_format(self, scope: Scope) -> str:
        """The request's `X-Replaydeck-Format` header chooses per session; unknown → default."""
        given = header(scope.get("headers", []), FORMAT_HEADER)
        if given:
            try:
                return normalize_format(given, DECODE_FORMATS)
            except UnknownFormat:
                log.warning("replaydeck: ignoring unknown X-Replaydeck-Format %r", given[:40])
        return self.format

    def session_id(self, scope: Scope) -> str:
        given = header(scope.get("headers", []), self.session_header)
        # Starlette's router fills path_params into this same scope before the response
        # starts, so the route's parameter is visible here although routing came later.
        param = scope.get("path_params", {}).get(self.path_param)
        for candidate in (given, param):
            if candidate and is_session_id(str(candidate)):
                return str(candidate)
        return uuid.uuid4().hex

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "HEAD":
            # A HEAD answer has an SSE content type but no stream: nothing to record.
            await self.app(scope, receive, send)
            return
        tee: StreamTee | None = None
        tap: RequestTap | None = None
        if has_json_body(scope.get("headers", [])) or (self.record_wire and has_body(scope)):
            tap = RequestTap(receive, self.max_request_bytes, self.clock)
            receive = tap.receive

        async def tee_send(message: Message) -> None:
            nonlocal tee
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if is_event_stream(headers):
                    session_id = self.session_id(scope)
                    # A decoder's event that fails the store's rules is dropped and
                    # counted, never the end of the recording (nor of the app's stream).
                    tee = StreamTee(
                        self.recorder.open(session_id, on_invalid="drop"),
                        self.stream_format(scope),
                        headers,
                        self.clock,
                        wire=self.record_wire,
                    )
                    if self.record_wire:
                        tee.wire_start(scope, tap, message["status"], headers)
                    if tap is not None:
                        tee.user_turn(tap)
                    headers.append((self.session_header, session_id.encode("latin-1")))
                    message = {**message, "headers": headers}
                await send(message)
                return
            await send(message)  # the client's bytes first; recording comes after
            if tee is not None and message["type"] == "http.response.body":
                tee.feed(message.get("body", b""))
                if not message.get("more_body", False):
                    tee.end("eof")

        try:
            await self.app(scope, receive, tee_send)
        finally:
            if tee is not None:
                tee.end("interrupted")
                await tee.session.aclose()
