"""Small SSE helpers for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from httpx_sse import EventSource, ServerSentEvent


async def dispatched(source: EventSource) -> AsyncIterator[ServerSentEvent]:
    """Frames a browser would dispatch: httpx-sse also yields data-less ones (retry:)."""
    async for sse in source.aiter_sse():
        if sse.data:
            yield sse


def parse_frames(body: bytes) -> list[dict[str, str]]:
    """Split a raw SSE body into frames of field → value (comments under ':')."""
    frames = []
    for block in body.split(b"\n\n"):
        if not block:
            continue
        frame: dict[str, str] = {}
        for line in block.decode().split("\n"):
            field, _, value = line.partition(": ")
            frame[field] = frame[field] + "\n" + value if field in frame else value
        frames.append(frame)
    return frames
