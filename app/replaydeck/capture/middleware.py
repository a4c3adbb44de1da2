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
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any

import orjson

from replaydeck.capture import wire
from replaydeck.capture.runs import DEFAULT_SESSION_IDLE, Run, Runs
from replaydeck.capture.sdk import Clock, Recorder, utc_now
from replaydeck.events import TURN_END
from replaydeck.formats import (
    DECODE_FORMATS,
    Captured,
    Decoder,
    UnknownFormat,
    decode_answer,
    detect,
    make_decoder,
    normalize_format,
)
from replaydeck.formats.sse import SSEParser
from replaydeck.formats.user_input import is_model_call, user_message_from_body
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
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


# Content codings whose copy is decoded for the recording (the client gets the bytes
# as sent): zlib's own, so no dependency is added for them. `32 + MAX_WBITS` lets
# zlib read a gzip or a zlib header, which covers `deflate` as servers send it.
INFLATABLE = frozenset({"gzip", "x-gzip", "deflate"})


def coding_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The response's content coding, None for none (or `identity`)."""
    encoding = (header(headers, b"content-encoding") or "").strip().lower()
    return None if encoding in ("", "identity") else encoding


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


def is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    content_type = (header(headers, b"content-type") or "").split(";")[0].strip().lower()
    encoding = header(headers, b"content-encoding")
    return content_type == "application/json" and encoding in (None, "identity")


class AnswerCopy:
    """A copy of a JSON answer as it passes, up to `limit` bytes, to record at its end."""

    def __init__(self, session_id: str, shared: bool, limit: int) -> None:
        self.session_id = session_id
        self.shared = shared
        self._limit = limit
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= self._limit:
            self._chunks.append(chunk)

    def events(self) -> list[Captured] | None:
        """The answer's events, or None when it is too large or not a known answer."""
        if self._size > self._limit:
            log.warning(
                "replaydeck: not recording session %s: its JSON answer is over %d bytes",
                self.session_id,
                self._limit,
            )
            return None
        try:
            return decode_answer(orjson.loads(b"".join(self._chunks)))
        except orjson.JSONDecodeError:
            return None


class StreamTee:
    """Turns the bytes of one SSE response into recorded events, as they pass."""

    def __init__(
        self,
        run: Run,
        fmt: str,
        headers: list[tuple[bytes, bytes]],
        clock: Clock = utc_now,
        *,
        wire: bool = False,
    ) -> None:
        coding = coding_of(headers)
        self._inflater = None if coding is None else zlib.decompressobj(32 + zlib.MAX_WBITS)
        self.run = run
        self.session = run.session
        self.wire = wire
        self._headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        self._decoder: Decoder | None = None if fmt == "auto" else make_decoder(fmt)
        self._parser = SSEParser()
        self._clock = clock
        self._final = False
        self._turn_ended = False
        self._failed = False
        self.ended = False
        self.ending: str | None = None

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
        if self._inflater is not None:
            chunk = self._inflater.decompress(chunk)
        for frame in self._parser.feed(chunk):
            if self._decoder is None:
                self._decoder = make_decoder(detect(frame, self._headers))
            for event in self._decoder.decode(frame):
                self.record(event, now)

    def record(self, event: Captured, ts: datetime) -> None:
        if self._final:
            return  # the store refuses appends after `final`
        if event.type == "final" and self.run.shared:
            # The protocol's end (AI SDK `finish`, AG-UI `RUN_FINISHED`, a plain `final`
            # frame) ends this call of a run that may go on: a turn, with what it carried.
            event = Captured(TURN_END, event.data)
        self._final = event.type == "final"
        if event.type == TURN_END:
            self._turn_ended = True
            self.run.turn_ended(event.data)
        self.session.emit_nowait(event.type, event.data, ts=ts)

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

    def end(self, reason: str) -> str | None:
        """How the response ended, as the run sees it: None when it ended one model
        call of a run that may go on, else the reason the session ends with it."""
        if not self.ended:
            self.ended = True
            self.ending = self._end(reason)
        return self.ending

    def _end(self, reason: str) -> str | None:
        if self._failed:
            reason = "capture_error"
        if self._final:
            return reason
        ends_turns = self._decoder is not None and self._decoder.ends_turns
        if not (ends_turns or self.run.shared):
            return reason  # a stream that is a whole session (AG-UI, AI SDK, plain SSE)
        if not self._turn_ended and self._decoder is not None:
            # Cut short, or over without its protocol's end (an AG-UI RUN_ERROR, a plain
            # stream): the turn ends all the same, marked, so the next call's events are
            # not taken for this one's.
            self.record(Captured(TURN_END, {"synthetic": True, "reason": reason}), self._clock())
        if not self.run.shared:
            return "complete" if self._turn_ended else reason
        return None


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
        session_idle: float = DEFAULT_SESSION_IDLE,
        record_wire: bool = False,
    ) -> None:
        self.app = app
        self.record_wire = record_wire
        self.recorder = recorder
        self.runs = Runs(recorder, idle=session_idle)
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

    def session_id(self, scope: Scope) -> tuple[str, bool]:
        """The session's id, and whether the client chose it (then more calls may share it)."""
        given = header(scope.get("headers", []), self.session_header)
        # Starlette's router fills path_params into this same scope before the response
        # starts, so the route's parameter is visible here although routing came later.
        param = scope.get("path_params", {}).get(self.path_param)
        for candidate in (given, param):
            if candidate and is_session_id(str(candidate)):
                return str(candidate), True
        return uuid.uuid4().hex, False

    @staticmethod
    def can_read(headers: list[tuple[bytes, bytes]]) -> bool:
        coding = coding_of(headers)
        if coding is None or coding in INFLATABLE:
            return True
        log.warning(
            "replaydeck: an event stream with content-encoding %r is passed on but not "
            "recorded: only gzip and deflate are decoded",
            coding[:40],
        )
        return False

    @staticmethod
    def model_call(tap: RequestTap) -> bool:
        body = tap.body()
        return body is not None and is_model_call(body)

    def record_answer(self, answer: AnswerCopy, tap: RequestTap | None) -> StreamTee | None:
        """A whole JSON answer, recorded as its stream would have been: a turn of its run."""
        events = answer.events()
        if events is None:
            return None
        run = self.runs.begin(answer.session_id, shared=answer.shared)
        tee = StreamTee(run, "auto", [], self.clock)
        if tap is not None:
            tee.user_turn(tap)
        now = self.clock()
        for event in events:
            tee.record(event, now)
        tee.end("eof")
        return tee

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "HEAD":
            # A HEAD answer has an SSE content type but no stream: nothing to record.
            await self.app(scope, receive, send)
            return
        tee: StreamTee | None = None
        answer: AnswerCopy | None = None
        tap: RequestTap | None = None
        if has_json_body(scope.get("headers", [])) or (self.record_wire and has_body(scope)):
            tap = RequestTap(receive, self.max_request_bytes, self.clock)
            receive = tap.receive

        async def tee_send(message: Message) -> None:
            nonlocal tee, answer
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if is_event_stream(headers) and not self.can_read(headers):
                    await send(message)
                    return
                if is_event_stream(headers):
                    session_id, shared = self.session_id(scope)
                    run = self.runs.begin(session_id, shared=shared)
                    tee = StreamTee(
                        run, self.stream_format(scope), headers, self.clock, wire=self.record_wire
                    )
                    if self.record_wire:
                        tee.wire_start(scope, tap, message["status"], headers)
                    if tap is not None:
                        tee.user_turn(tap)
                elif is_json(headers) and tap is not None and self.model_call(tap):
                    session_id, shared = self.session_id(scope)
                    answer = AnswerCopy(session_id, shared, self.max_request_bytes)
                else:
                    await send(message)
                    return
                headers.append((self.session_header, session_id.encode("latin-1")))
                await send({**message, "headers": headers})
                return
            await send(message)  # the client's bytes first; recording comes after
            if answer is not None and message["type"] == "http.response.body":
                answer.add(message.get("body", b""))
                if not message.get("more_body", False):
                    tee = self.record_answer(answer, tap)
                    answer = None
            if tee is not None and message["type"] == "http.response.body":
                tee.feed(message.get("body", b""))
                if not message.get("more_body", False):
                    ending = tee.end("eof")
                    if ending is not None:
                        tee.session.end_with_final(data=tee.run.final_data(ending))

        try:
            await self.app(scope, receive, tee_send)
        finally:
            if tee is not None:
                ending = tee.end("interrupted")
                await self.runs.end_call(tee.run, reason=ending)
