"""The one Server-Sent Events codec: framing and incremental parsing, pure bytes.

Used by the streams (live tails, replays), by capture (the middleware's and the
proxy's tee) and by the protocol adapters, so every frame replaydeck writes or
reads follows the same rules, tested against exact bytes.

The parser is hand-written rather than taken from httpx-sse: its decoder is private API, works on

already-split lines, and would need a second buffering layer for a tee that sees
arbitrary byte chunks (a frame, or even a CRLF, may be split across two chunks).
Follows the WHATWG "event stream interpretation" rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEFrame:
    """One dispatched event: `event` is None when the frame had no `event:` field."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Feed it byte chunks in arrival order; it returns the frames each chunk completed."""

    def __init__(self) -> None:
        self._buffer = b""
        self._seen_first_line = False
        # A chunk ending in CR may be the first half of a CRLF; the next chunk decides.
        self._pending_cr = False
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEFrame]:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = False
        self._buffer += chunk
        frames: list[SSEFrame] = []
        start = 0
        buffer = self._buffer
        length = len(buffer)
        i = 0
        while i < length:
            byte = buffer[i]
            if byte == 0x0A or byte == 0x0D:
                line = buffer[start:i]
                if byte == 0x0D:
                    if i + 1 < length:
                        if buffer[i + 1] == 0x0A:
                            i += 1
                    else:
                        self._pending_cr = True
                i += 1
                start = i
                frame = self._line(line)
                if frame is not None:
                    frames.append(frame)
                continue
            i += 1
        self._buffer = buffer[start:]
        return frames

    def _line(self, raw: bytes) -> SSEFrame | None:
        line = raw.decode("utf-8", errors="replace")
        if not self._seen_first_line:
            self._seen_first_line = True
            line = line.removeprefix("\ufeff")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEFrame | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], None, None
        # The spec keeps the last id across frames; a frame carries the id in force.
        if not data:
            return None
        return SSEFrame(data="\n".join(data), event=event or None, id=self._id, retry=retry)


def parse_all(body: bytes) -> list[SSEFrame]:
    """Parse a complete body (tests, samples)."""
    return SSEParser().feed(body)


HEARTBEAT = b": keep-alive\n\n"

# The framing of a stream in another protocol (`?format=`, the fake upstream). The WHATWG
# rules ignore a comment and a block without data, but not every client follows them:
# openai-python's SSEDecoder keeps the last `id` across events (as the spec says) and then
# dispatches an empty event on *any* blank line once it has seen one, or on a block with
# only `retry:`, and fails to parse its JSON. So a keep-alive there is a comment line with
# no blank line after it (it joins the next event's block, where every parser ignores it),
# and `retry:` is sent as a field of the first event's block (`encode_retry_field`).
INLINE_HEARTBEAT = b": keep-alive\n"


def encode_frame(
    data: bytes | str,
    *,
    event: str | None = None,
    id: int | str | None = None,
    retry: int | None = None,
) -> bytes:
    """One SSE frame. `data` may hold newlines; each line becomes a data: line."""
    if isinstance(data, str):
        data = data.encode()
    parts: list[bytes] = []
    if id is not None:
        parts.append(b"id: %s\n" % str(id).encode())
    if event is not None:
        parts.append(b"event: %s\n" % event.encode())
    if retry is not None:
        parts.append(b"retry: %d\n" % retry)
    for line in data.splitlines() or [b""]:
        parts.append(b"data: %s\n" % line)
    parts.append(b"\n")
    return b"".join(parts)


def encode_event(seq: int, event_type: str, envelope: bytes) -> bytes:
    # The hot path: an envelope is one JSON line (orjson never emits newlines).
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, event_type.encode(), envelope)


def encode_retry(milliseconds: int) -> bytes:
    return b"retry: %d\n\n" % milliseconds


def encode_retry_field(milliseconds: int) -> bytes:
    """`retry:` without the blank line: the first event's block that follows carries it."""
    return b"retry: %d\n" % milliseconds


def encode_comment(text: str) -> bytes:
    return b"".join(b": %s\n" % line.encode() for line in text.splitlines() or [""]) + b"\n"


def frame_bytes(frame: SSEFrame) -> bytes:
    """A parsed frame written back out."""
    return encode_frame(frame.data, event=frame.event, id=frame.id, retry=frame.retry)


def encode_frames(frames: Iterable[SSEFrame]) -> bytes:
    return b"".join(frame_bytes(frame) for frame in frames)
