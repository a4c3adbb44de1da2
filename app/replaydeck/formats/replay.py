"""`GET /v1/sessions/{id}/replay?format=…`: a replay re-encoded into another protocol, so a
client built for OpenAI Responses, the Vercel AI SDK or AG-UI can be tested against a
recorded session.

The replay stream's frames are parsed back and re-encoded here, at the route, so the
core's pacing code stays one code path for every format; replay is not a hot path.
Each stored event's frames end with one that carries its seq as `id:`, so Last-Event-ID
resumption still works. The framing suits clients stricter than the SSE rules
(replaydeck.formats.sse.INLINE_HEARTBEAT). Control frames (`replay.end`) are not sent: the
foreign protocols have their own ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import replace
from typing import Any

import orjson

from replaydeck.errors import InvalidParameter
from replaydeck.events import RESERVED_PREFIXES
from replaydeck.formats import (
    ENCODE_FORMATS,
    UnknownFormat,
    make_encoder,
    normalize_format,
)
from replaydeck.formats.sse import INLINE_HEARTBEAT, SSEParser, frame_bytes


def parse_format(value: str) -> str:
    try:
        return normalize_format(value, ENCODE_FORMATS)
    except UnknownFormat as e:
        raise InvalidParameter(
            f"format={value[:40]!r} is not known; use one of: {', '.join(ENCODE_FORMATS)}."
        ) from e


async def reformat(
    frames: AsyncIterator[bytes],
    fmt: str,
    session_id: str,
    *,
    before: Iterable[Mapping[str, Any]] = (),
) -> AsyncIterator[bytes]:
    """Re-encode a replay's frames; `before` are the envelopes a resumed client already
    has (up to its Last-Event-ID), run through the encoder unsent, so the stream goes on
    where it left off (same response id, sequence numbers, output indexes) instead of
    starting a second response."""
    encoder = make_encoder(fmt, session_id)
    for envelope in before:
        encoder.encode(envelope)
    parser = SSEParser()
    async for chunk in frames:
        out: list[bytes] = []
        found = False
        for frame in parser.feed(chunk):
            found = True
            if frame.event is not None and frame.event.startswith(RESERVED_PREFIXES):
                continue
            encoded = encoder.encode(orjson.loads(frame.data))
            # Only the last frame of a stored event's group carries its seq as `id:`: a
            # client holds that id once it has the whole group, so a resume never skips
            # the group's rest (the frames before it keep the previous id in force).
            # Encoders set no ids of their own on the group's other frames.
            out += [frame_bytes(f) for f in encoded[:-1]]
            # An id the encoder gives (a plain SSE app's own `id:`) is sent as it was.
            out += [frame_bytes(replace(f, id=f.id or frame.id)) for f in encoded[-1:]]
        if not found and chunk.startswith(b":"):
            out.append(INLINE_HEARTBEAT)  # a keep-alive that dispatches no empty event
        if out:
            yield b"".join(out)
