"""Incremental Server-Sent Events parsing and framing, as pure functions of bytes.

Hand-written rather than taken from httpx-sse: its decoder is private API, works on
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


def encode_frame(frame: SSEFrame) -> bytes:
    """Serialise a frame; multi-line data becomes several `data:` lines, as the spec wants."""
    lines: list[str] = []
    if frame.id is not None:
        lines.append(f"id: {frame.id}")
    if frame.event is not None:
        lines.append(f"event: {frame.event}")
    if frame.retry is not None:
        lines.append(f"retry: {frame.retry}")
    lines.extend(f"data: {part}" for part in frame.data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def encode_frames(frames: Iterable[SSEFrame]) -> bytes:
    return b"".join(encode_frame(frame) for frame in frames)
