"""``replay(source, speed="max")``: a recorded session as deterministic test input."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import anyio
import httpx

from replaydeck.replay.clock import Clock, LoopClock
from replaydeck.replay.pacing import Pacer
from replaydeck.testing.sources import Recording, api_client, is_url, load_file, load_url

Event = dict[str, Any]
Source = str | os.PathLike[str] | Sequence[Mapping[str, Any]]


def parse_speed(speed: float | str) -> float | None:
    """A positive speed factor, or None for "max" (no waiting)."""
    if speed == "max":
        return None
    try:
        value = float(speed)
    except (TypeError, ValueError):
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise ValueError(
            f"speed {speed!r} is not valid; use a positive number (1 = as recorded, "
            "10 = ten times faster) or 'max' for no waiting"
        )
    return value


async def load(
    source: Source, *, api_key: str | None = None, client: httpx.AsyncClient | None = None
) -> Recording:
    """Read a whole source: a file, a session or share URL, or envelopes in memory."""
    if isinstance(source, str) and is_url(source):
        if client is not None:
            return await load_url(source, client)
        async with api_client(api_key) as own:
            return await load_url(source, own)
    # A large archive takes a while to parse; keep the event loop free meanwhile.
    return await anyio.to_thread.run_sync(load_local, source)


def load_local(source: Source) -> Recording:
    """A file or in-memory source, read at once (a URL needs ``load``)."""
    if isinstance(source, str) and is_url(source):
        raise ValueError(f"{source} is a URL; read it with `await load(...)`")
    if isinstance(source, str | os.PathLike):
        return load_file(source)
    return Recording(session={}, events=[dict(event) for event in source])


def ts_us(event: Mapping[str, Any]) -> int:
    # offset_ms is what the store derives replay timing from; only differences
    # matter to the pacer, so an offset serves as well as the absolute ts.
    offset = event.get("offset_ms")
    return round(float(offset) * 1000) if isinstance(offset, int | float) else 0


async def replay(
    source: Source,
    speed: float | str = "max",
    *,
    max_gap_ms: float | None = None,
    clock: Clock | None = None,
    api_key: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> AsyncIterator[Event]:
    """Yield the session's envelopes in seq order, paced like the recording.

    ``speed="max"`` yields at once; ``speed=1`` keeps the recorded rhythm and
    ``speed=10`` plays ten times faster, each event due at an absolute deadline
    from the start (the same pacing as the server's replay). ``source`` is an
    export archive, a golden file, ``http://host/v1/sessions/{id}``,
    ``http://host/r/{token}``, or a list of envelopes.
    """
    factor = parse_speed(speed)
    recording = await load(source, api_key=api_key, client=client)
    if factor is None:
        for event in recording.events:
            yield event
        return
    timer = clock or LoopClock()
    pacer = Pacer(start=timer.now(), speed=factor, max_gap_ms=max_gap_ms)
    for event in recording.events:
        await timer.sleep_until(pacer.due(ts_us(event)))
        yield event
