"""`GET /v1/sessions/{id}/replay?format=…`: a replay re-encoded into another protocol, so a
client built for OpenAI Responses, the Vercel AI SDK or AG-UI can be tested against a
recorded session.

The replay stream's frames are parsed back and re-encoded here, at the route, so the
core's pacing code stays one code path for every format; replay is not a hot path.
Each output frame keeps the seq as its `id:`, so Last-Event-ID resumption still works.
Control frames (`replay.end`) are not sent: the foreign protocols have their own ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import orjson

from replaydeck.errors import InvalidParameter
from replaydeck.events import RESERVED_PREFIXES
from replaydeck.formats import (
    ENCODE_FORMATS,
    UnknownFormat,
    make_encoder,
    normalize_format,
)
from replaydeck.formats.sse import SSEParser, frame_bytes


def parse_format(value: str) -> str:
    try:
        return normalize_format(value, ENCODE_FORMATS)
    except UnknownFormat as e:
        raise InvalidParameter(
            f"format={value[:40]!r} is not known; use one of: {', '.join(ENCODE_FORMATS)}."
        ) from e


async def reformat(frames: AsyncIterator[bytes], fmt: str, session_id: str) -> AsyncIterator[bytes]:
    encoder = make_encoder(fmt, session_id)
    parser = SSEParser()
    async for chunk in frames:
        out: list[bytes] = []
        found = False
        for frame in parser.feed(chunk):
            found = True
            if frame.event is not None and frame.event.startswith(RESERVED_PREFIXES):
                continue
            envelope = orjson.loads(frame.data)
            out += [frame_bytes(replace(f, id=frame.id)) for f in encoder.encode(envelope)]
        if not found and chunk.startswith(b":"):
            out.append(chunk)  # a keep-alive comment passes as it is
        if out:
            yield b"".join(out)
