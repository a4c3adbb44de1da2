"""The OTLP JSON document of one stored session (for GET …/trace and `replaydeck trace`)."""

from __future__ import annotations

import functools
from typing import Any

import anyio
from opentelemetry.sdk.resources import Resource

from replaydeck.store.base import EventStore
from replaydeck.tracing.otlp_json import session_spans, to_otlp_json
from replaydeck.tracing.records import read_all, session_info


async def session_document(
    store: EventStore,
    session_id: str,
    *,
    now_ns: int,
    idle_timeout_s: float,
    resource: Resource,
    page_size: int = 500,
) -> dict[str, Any]:
    """Built from the log with the same mapping as the live tracer, so it works for any
    stored session, whether or not an exporter was configured when it was recorded."""
    record = await store.get_session(session_id)
    events = await read_all(store, session_id, page_size=page_size)
    build = functools.partial(
        _build, session_info(record), events, now_ns, idle_timeout_s, resource
    )
    # A long session is a lot of CPU-bound encoding: keep it off the event loop.
    return await anyio.to_thread.run_sync(build)


def _build(
    info: Any, events: list[dict[str, Any]], now_ns: int, idle_timeout_s: float, resource: Resource
) -> dict[str, Any]:
    spans = session_spans(
        info, events, now_ns=now_ns, idle_timeout_s=idle_timeout_s, resource=resource
    )
    return to_otlp_json(spans)
