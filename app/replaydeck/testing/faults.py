"""Faults a recorded upstream can inject into one response: what agents must survive.

    recorded_upstream.inject(rate_limit(retry_after=0.05))

Each injected fault spoils the next request (`times` requests, with `times=2` …), in
the order injected. Pure: `plan()` turns a recorded response and a fault into what
is played; the transport does the waiting and the breaking.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace

from replaydeck.testing.cassette import Chunk, RecordedResponse

# An SSE frame whose JSON stops half-way, as a truncating proxy would leave it.
MALFORMED_FRAME = b'data: {"id":"chatcmpl-broken","choices":[{"delta":{"content":"Hel\n\n'


@dataclass(frozen=True)
class Fault:
    kind: str
    times: int = 1
    # disconnect: the connection drops after this many chunks
    after_chunks: int = 0
    # status: the whole answer instead of the recorded one (which stays for a retry)
    response: RecordedResponse | None = None
    # malformed: this frame goes in before the chunk at this index
    before_chunk: int = 0
    data: bytes = b""
    # latency: added before the headers, so before everything
    delay_ms: float = 0.0


def disconnect(after_chunks: int = 1, *, times: int = 1) -> Fault:
    """The connection drops after `after_chunks` chunks of the body, mid-stream."""
    return Fault("disconnect", times=times, after_chunks=after_chunks)


def status(
    code: int, *, headers: dict[str, str] | None = None, body: object = None, times: int = 1
) -> Fault:
    """Answer `code` instead; the recorded exchange is kept for the request after."""
    payload = body if body is not None else {"error": {"message": f"injected {code}"}}
    content = json.dumps(payload).encode()
    fields = (("content-type", "application/json"), *(headers or {}).items())
    answer = RecordedResponse(code, tuple(fields), chunks=(Chunk(0.0, content),))
    return Fault("status", times=times, response=answer)


def rate_limit(retry_after: float = 1.0, *, times: int = 1) -> Fault:
    """429 with `Retry-After` (whole seconds, as HTTP has them) and `retry-after-ms`, the
    exact wait, which the OpenAI SDKs read first, as the OpenAI API sends both."""
    body = {
        "error": {
            "message": "Rate limit reached (injected by the recorded upstream).",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
    }
    headers = {
        "retry-after": str(max(1, math.ceil(retry_after))),
        "retry-after-ms": str(round(retry_after * 1000)),
    }
    return replace(status(429, headers=headers, body=body, times=times), kind="rate_limit")


def malformed_frame(
    before_chunk: int = 1, data: bytes = MALFORMED_FRAME, *, times: int = 1
) -> Fault:
    """A frame that does not parse, sent before the chunk at index `before_chunk`."""
    return Fault("malformed", times=times, before_chunk=before_chunk, data=data)


def latency(ms: float, *, times: int = 1) -> Fault:
    """`ms` more before the response starts (a slow model, a congested network)."""
    return Fault("latency", times=times, delay_ms=ms)


@dataclass(frozen=True)
class Plan:
    """What to play for one request."""

    response: RecordedResponse
    disconnect_after: int | None = None
    # Added to every deadline, whatever the speed ("max" included).
    delay_ms: float = 0.0


def plan(recorded: RecordedResponse, fault: Fault | None) -> Plan:
    if fault is None:
        return Plan(recorded)
    if fault.response is not None:
        return Plan(fault.response)
    if fault.kind == "disconnect":
        return Plan(recorded, disconnect_after=fault.after_chunks)
    if fault.kind == "malformed":
        chunks = list(recorded.chunks)
        index = min(fault.before_chunk, len(chunks))
        at_ms = chunks[index].at_ms if index < len(chunks) else recorded.at_ms
        chunks.insert(index, Chunk(at_ms, fault.data))
        return Plan(replace(recorded, chunks=tuple(chunks)))
    return Plan(recorded, delay_ms=fault.delay_ms)
