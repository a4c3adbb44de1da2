"""Trace and span identifiers, W3C traceparent parsing, event timestamps in nanoseconds."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_propagator = TraceContextTextMapPropagator()
_random_ids = RandomIdGenerator()


@dataclass(frozen=True, slots=True)
class TraceOrigin:
    """Where a session's trace lives: its trace id and, when joined, the producer's span."""

    trace_id: int
    parent_span_id: int | None = None

    @classmethod
    def new(cls) -> TraceOrigin:
        return cls(trace_id=_random_ids.generate_trace_id())

    @classmethod
    def from_traceparent(cls, header: str | None) -> TraceOrigin | None:
        """The producer's trace from a W3C `traceparent` header, or None when absent or invalid."""
        if not header:
            return None
        context = _propagator.extract({"traceparent": header})
        span_context = trace.get_current_span(context).get_span_context()
        if not span_context.is_valid:
            return None
        return cls(trace_id=span_context.trace_id, parent_span_id=span_context.span_id)

    @property
    def traceparent(self) -> str | None:
        """The W3C header naming the producer's span (stored with the session), if joined."""
        if self.parent_span_id is None:
            return None
        return f"00-{trace_id_hex(self.trace_id)}-{span_id_hex(self.parent_span_id)}-01"


def trace_id_hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def span_id_hex(span_id: int) -> str:
    return format(span_id, "016x")


def parse_hex_id(value: object, *, width: int) -> int | None:
    """A hex id of `width` digits as an int; None for anything else (including all zeros)."""
    if not isinstance(value, str) or len(value) != width:
        return None
    try:
        parsed = int(value, 16)
    except ValueError:
        return None
    return parsed or None


def derive_span_id(trace_id: int, *key: str) -> int:
    """A span id that is a pure function of the trace and a key such as ("tool", call_id).

    Deterministic ids let the mapping be rebuilt from the stored log after a restart and
    still name the same spans that were already exported.
    """
    material = "\x1f".join((trace_id_hex(trace_id), *key)).encode()
    value = int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big")
    # Zero is the invalid span id in W3C trace context; the chance is 2**-64, but be exact.
    return value or 1


def derive_trace_id(session_id: str) -> int:
    """A stable trace id for a session that was stored without one."""
    value = int.from_bytes(hashlib.blake2b(session_id.encode(), digest_size=16).digest(), "big")
    return value or 1


# OTLP carries times as unsigned 64-bit nanoseconds: 1970 to 2554. A span outside
# that would fail the exporter's whole batch, other sessions' spans with it, so
# times are clamped into it (events keep their own `ts`; only spans are clamped).
MAX_SPAN_NS = 2**64 - 1
# Envelopes written before years under 1000 were zero-padded ("999-01-01T...").
_SHORT_YEAR = re.compile(r"^(\d{1,3})-")


def ts_to_ns(ts: object) -> int:
    """An envelope `ts` (RFC 3339 string, or epoch milliseconds) as epoch nanoseconds
    that OTLP can carry."""
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        ns = round(ts * 1_000_000)
    elif isinstance(ts, str):
        moment = datetime.fromisoformat(_SHORT_YEAR.sub(_pad_year, ts, count=1))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # Integer microseconds avoid float rounding: 250 ms stays exactly 250_000_000 ns.
        ns = ((moment - _EPOCH) // _MICROSECOND) * 1000
    else:
        raise ValueError(f"event timestamp {ts!r} is neither an RFC 3339 string nor epoch ms")
    return min(max(ns, 0), MAX_SPAN_NS)


def _pad_year(match: re.Match[str]) -> str:
    return f"{int(match.group(1)):04d}-"
