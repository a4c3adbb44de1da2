"""LangSmith runs into sessions: map each run, append per session, end the turns.

Runs arrive in pieces, out of order and across requests. Each piece maps on its own
(replaydeck.telemetry.langsmith) to events whose ids come from the run ids, so a
piece sent again stores nothing new, and a run's end found before its start still
lands. A request's events are appended in time order, one append per session. The
root run's end is appended last: its `final` carries the token usage of every model
run of the trace, read back from the session's `model.usage` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import orjson

from replaydeck.errors import (
    InvalidParameter,
    PayloadTooLarge,
    SessionClosed,
    SessionExists,
    UnsupportedMediaType,
)
from replaydeck.events import NewEvent
from replaydeck.ingest.langsmith_body import (
    Batch,
    decompress,
    read_batch,
    read_multipart,
    read_one,
)
from replaydeck.ingest.service import Ingest
from replaydeck.sessions.metadata import check_metadata
from replaydeck.storable import flaw
from replaydeck.telemetry.langsmith import run_events, sum_usage, trace_end
from replaydeck.telemetry.langsmith_runs import Run, merge_runs

log = logging.getLogger("replaydeck.langsmith")

# What /langsmith/info tells the SDKs. The batch config is the Python SDK's own
# defaults (it reads every key); batches are held to half the request limit, since
# the SDK sends a batch once it has passed the size, not before.
_SCALE = {
    "size_limit": 100,
    "scale_up_qsize_trigger": 1000,
    "scale_up_nthreads_limit": 16,
    "scale_down_nempty_trigger": 4,
}


def server_info(max_request_bytes: int) -> dict[str, Any]:
    return {
        # No LangSmith version: the SDKs compare one only before calling LangSmith's
        # query APIs (which replaydeck does not serve), and skip the check without it.
        "version": "",
        "license_expiration_time": None,
        "batch_ingest_config": {
            "use_multipart_endpoint": True,
            "size_limit_bytes": max_request_bytes // 2,
            **_SCALE,
        },
        # Compressed multipart (zstd from Python, gzip or zstd from JS) is read.
        "instance_flags": {"zstd_compression_enabled": True, "gzip_body_enabled": True},
    }


class Arrivals:
    """Requests in the order their bodies arrived. A root run's end waits until every
    request that arrived before its own is done: the SDKs send a trace's pieces in
    order but may send them concurrently, and a `final` stored first would leave the
    pieces still in flight `late`. (Within one process: see README.)"""

    def __init__(self) -> None:
        self._next = 0
        self._open: set[int] = set()
        self._changed = asyncio.Condition()

    def enter(self) -> int:
        ticket = self._next
        self._next += 1
        self._open.add(ticket)
        return ticket

    async def leave(self, ticket: int) -> None:
        with anyio.CancelScope(shield=True):
            async with self._changed:
                self._open.discard(ticket)
                self._changed.notify_all()

    async def wait_for_earlier(self, ticket: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: min(self._open, default=ticket) >= ticket)


@dataclass
class Report:
    runs: int = 0
    stored: int = 0
    # Events of runs whose session had already ended (see README).
    late: int = 0

    def body(self, skipped: int) -> dict[str, int]:
        return {"runs": self.runs, "stored": self.stored, "late": self.late, "skipped": skipped}


def _preview(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text[:limit]


def _fit(ingest: Ingest, raw: dict[str, Any]) -> NewEvent:
    """Validate an event; one too large keeps a preview of its largest value instead."""
    try:
        return ingest.validate(raw)
    except PayloadTooLarge:
        data = dict(raw["data"])
        room = ingest.settings.max_event_bytes // 4
        for name in ("result", "args", "text", "usage"):
            if name in data:
                preview = _preview(data[name], room)
                data[name] = {"preview": preview} if name in ("args", "usage") else preview
        data["truncated"] = True
        return ingest.validate({**raw, "data": data})


def _metadata(runs: list[Run]) -> dict[str, Any]:
    first = runs[0]
    metadata: dict[str, Any] = {"source": "langsmith"}
    thread = first.thread
    if thread is not None:
        metadata["thread_id"] = thread
    else:
        metadata["trace_id"] = first.trace_id
    root = next((run for run in runs if run.is_root and run.name), None)
    if root is not None:
        metadata["agent_name"] = root.name
    return metadata


async def _open(ingest: Ingest, session_id: str, runs: list[Run]) -> None:
    """Create the session with its metadata unless it exists (a later piece's request).
    A value no backend can store (a NUL in a thread id) is left out, not refused."""
    found = _metadata(runs)
    storable = {key: value for key, value in found.items() if flaw(str(value)) is None}
    metadata = ingest.redact_metadata(storable)
    try:
        check_metadata(metadata, max_bytes=ingest.settings.max_metadata_bytes)
    except (InvalidParameter, PayloadTooLarge):
        metadata = {"source": "langsmith"}
    with contextlib.suppress(SessionExists):
        await ingest.store.create_session(session_id, metadata=metadata)


def _session_id(ingest: Ingest, run: Run) -> str:
    session_id = run.session_id
    try:
        return ingest.check_session_id(session_id)
    except InvalidParameter:
        # A thread id that looks like a credential is not shown as the session's name.
        return "thread-" + hashlib.sha256(session_id.encode()).hexdigest()[:32]


def _by_time(event: NewEvent) -> int:
    return event.ts_us if event.ts_us is not None else 2**63


async def _usage(ingest: Ingest, session_id: str, trace_id: str) -> dict[str, int]:
    stored = await ingest.store.read(session_id)
    usages = []
    for event in stored:
        if event.type == "model.usage":
            data = event.as_dict()["data"]
            if data.get("trace_id") == trace_id:
                usages.append(data.get("usage") or {})
    return sum_usage(usages)


async def _append(ingest: Ingest, session_id: str, events: list[NewEvent], report: Report) -> None:
    if not events:
        return
    try:
        result = await ingest.append(session_id, events)
    except SessionClosed:
        # A piece that comes after its trace's root run ended (the SDKs send a run's
        # end before its parent's, so only a reordered retry does this).
        report.late += len(events)
        log.warning(
            "%d event(s) of LangSmith runs arrived after session %r ended; not stored",
            len(events),
            session_id,
        )
        return
    report.stored += len(result.appended)


async def ingest_runs(
    ingest: Ingest, runs: list[Run], *, before_ends: Callable[[], Awaitable[None]] | None = None
) -> Report:
    merged = merge_runs(runs)
    report = Report(runs=len(merged))
    sessions: dict[str, list[Run]] = defaultdict(list)
    for run in merged:
        sessions[_session_id(ingest, run)].append(run)
    # Every run is mapped and validated before anything is stored: a bad one refuses
    # the whole request, which the SDK then logs.
    planned = []
    for session_id, session_runs in sessions.items():
        events = [_fit(ingest, raw) for run in session_runs for raw in run_events(run)]
        ends = [run for run in session_runs if run.is_root and run.end_us is not None]
        planned.append((session_id, session_runs, sorted(events, key=_by_time), ends))
    for session_id, session_runs, events, ends in planned:
        await _open(ingest, session_id, session_runs)
        await _append(ingest, session_id, events, report)
        if ends and before_ends is not None:
            await before_ends()
        for root in ends:
            usage = await _usage(ingest, session_id, root.trace_id)
            await _append(ingest, session_id, [_fit(ingest, trace_end(root, usage))], report)
    return report


def _declared(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _refuse_type(content_type: str, wanted: str) -> UnsupportedMediaType:
    declared = _declared(content_type)
    said = f"Content-Type {declared[:60]!r} is" if declared else "A body without a Content-Type is"
    return UnsupportedMediaType(
        f"{said} not accepted here; send {wanted}, as the LangSmith SDK does."
    )


async def ingest_body(
    ingest: Ingest,
    arrivals: Arrivals,
    body: bytes,
    *,
    content_type: str,
    encoding: str | None,
    section: str | None = None,
    run_id: str | None = None,
) -> dict[str, int]:
    """One request of the SDK: multipart (`section` None, multipart content), a JSON
    batch (`section` None) or one run (`section` "post" or "patch")."""
    settings = ingest.settings
    declared = _declared(content_type)
    multipart = declared == "multipart/form-data"
    # The Python SDK sends batches and single runs without a Content-Type.
    if not multipart and declared not in ("", "application/json"):
        raise _refuse_type(content_type, "multipart/form-data or application/json")
    if section is not None and multipart:
        raise _refuse_type(content_type, "the run as application/json")

    def decode() -> Batch:
        # Decompressing and parsing a large body is CPU work: off the event loop.
        plain = decompress(body, encoding, settings.max_request_bytes)
        limit = settings.max_batch_events
        if multipart:
            return read_multipart(plain, content_type, max_runs=limit)
        if section is None:
            return read_batch(plain, max_runs=limit)
        return Batch(runs=[read_one(plain, section=section, run_id=run_id)])

    ticket = arrivals.enter()
    try:
        batch = await anyio.to_thread.run_sync(decode)
        report = await ingest_runs(
            ingest, batch.runs, before_ends=lambda: arrivals.wait_for_earlier(ticket)
        )
    finally:
        await arrivals.leave(ticket)
    return report.body(batch.skipped)
