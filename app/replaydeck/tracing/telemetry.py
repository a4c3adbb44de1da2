"""Streaming chunk telemetry for one assistant message: the numbers GenAI conventions omit.

All attributes live under `replaydeck.stream.` (documented in README, "Tracing"):

- `chunk_count`: number of `message.delta` events in the message
- `chars`: characters of text across them
- `time_to_first_chunk_ms`: first delta's ts minus the ts of the event just before the
  message (the prompt, a tool result …); absent when the message opens the session
- `duration_ms`: last delta's ts minus the first's
- `inter_chunk_gap_p50_ms`, `inter_chunk_gap_p95_ms`: gaps between consecutive deltas
  (linear interpolation between ranks); absent with fewer than two chunks
- `chars_per_second`: `chars` over `duration_ms`; absent when the duration is zero
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

from opentelemetry.util.types import AttributeValue

PREFIX = "replaydeck.stream."
_NS_PER_MS = 1_000_000


def chunk_telemetry(
    chunk_ns: Sequence[int], chars: int, anchor_ns: int | None
) -> dict[str, AttributeValue]:
    if not chunk_ns:
        return {}
    first, last = chunk_ns[0], chunk_ns[-1]
    attributes: dict[str, AttributeValue] = {
        f"{PREFIX}chunk_count": len(chunk_ns),
        f"{PREFIX}chars": chars,
        f"{PREFIX}duration_ms": (last - first) / _NS_PER_MS,
    }
    if anchor_ns is not None:
        attributes[f"{PREFIX}time_to_first_chunk_ms"] = (first - anchor_ns) / _NS_PER_MS
    gaps = [(b - a) / _NS_PER_MS for a, b in itertools.pairwise(chunk_ns)]
    if len(gaps) == 1:
        attributes[f"{PREFIX}inter_chunk_gap_p50_ms"] = gaps[0]
        attributes[f"{PREFIX}inter_chunk_gap_p95_ms"] = gaps[0]
    elif gaps:
        # n=20 cut points: index 9 is the median, index 18 the 95th percentile.
        cuts = statistics.quantiles(gaps, n=20, method="inclusive")
        attributes[f"{PREFIX}inter_chunk_gap_p50_ms"] = cuts[9]
        attributes[f"{PREFIX}inter_chunk_gap_p95_ms"] = cuts[18]
    if last > first:
        attributes[f"{PREFIX}chars_per_second"] = chars / ((last - first) / 1e9)
    return attributes
