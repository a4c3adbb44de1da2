"""`GET /v1/sessions/{id}/replay?format=…`: a replay re-encoded into another protocol, so a
client built for OpenAI Responses, the Vercel AI SDK or AG-UI can be tested against a
recorded session.

The replay stream's frames are parsed back and re-encoded here, at the route, so the
core's pacing code stays one code path for every format; replay is not a hot path.
Each stored event's frames end with one that carries its seq as `id:`, the frames
before it `<seq>.<k>`, so Last-Event-ID resumes after any frame. The framing suits
clients stricter than the SSE rules (replaydeck.formats.sse.INLINE_HEARTBEAT). Control
frames (`replay.end`) are not sent: the foreign protocols have their own ends.
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
    resume: tuple[int, int] | None = None,
) -> AsyncIterator[bytes]:
    """Re-encode a replay's frames; `before` are the envelopes a resumed client already
    has (up to its Last-Event-ID), run through the encoder unsent, so the stream goes on
    where it left off (same response id, sequence numbers, output indexes) instead of
    starting a second response. `resume` is (seq, k) when the client has the first k
    frames of seq's group (Last-Event-ID `<seq>.<k>`): they are not sent again."""
    encoder = make_encoder(fmt, session_id)
    for envelope in before:
        encoder.encode(envelope)
    partial = str(resume[0]) if resume and resume[1] else None
    parser = SSEParser()
    async for chunk in frames:
        out: list[bytes] = []
        found = False
        for frame in parser.feed(chunk):
            found = True
            if frame.event is not None and frame.event.startswith(RESERVED_PREFIXES):
                continue
            encoded = encoder.encode(orjson.loads(frame.data))
            # The last frame of a stored event's group carries its seq as `id:` (a
            # client holding it has the whole group); the frames before it are
            # `<seq>.1`, `<seq>.2` …, so a client cut off inside a group resumes right
            # after the frame it has. Encoders set no ids of their own on those frames;
            # an id the encoder gives (a plain SSE app's own `id:`) is sent as it was.
            group = [
                replace(f, id=f.id or (frame.id and f"{frame.id}.{k}"))
                for k, f in enumerate(encoded[:-1], 1)
            ]
            group += [replace(f, id=f.id or frame.id) for f in encoded[-1:]]
            if partial is not None and frame.id == partial:
                group, partial = group[resume[1] if resume else 0 :], None
            out += [frame_bytes(f) for f in group]
        if not found and chunk.startswith(b":"):
            out.append(INLINE_HEARTBEAT)  # a keep-alive that dispatches no empty event
        if out:
            yield b"".join(out)
