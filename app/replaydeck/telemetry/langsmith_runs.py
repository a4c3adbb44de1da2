"""LangSmith runs as the SDKs send them: checked, and their pieces merged.

A run reaches replaydeck in pieces: a `post` when it starts (with its inputs) and a
`patch` when it ends (outputs, error, events), or both merged into one `post` when the
SDK sends them in the same batch. Both SDKs repeat the run's name, type, times,
parents and metadata in every piece, so each piece maps on its own: no state is kept
between requests, and an event's id is derived from the run's own id, so a piece sent
twice (the SDKs retry) stores nothing new. See README, "LangChain and LangGraph".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from replaydeck.errors import InvalidEvent
from replaydeck.events import parse_ts
from replaydeck.ids import is_session_id

# Metadata keys that name a conversation: LangGraph copies `thread_id` from its
# config into every run's metadata; LangSmith's threads view reads all three.
THREAD_KEYS = ("thread_id", "session_id", "conversation_id")
MAX_RUN_ID = 64
_RUN_FIELDS = {
    "id": str,
    "trace_id": str,
    "parent_run_id": str,
    "name": str,
    "run_type": str,
    "inputs": dict,
    "outputs": dict,
    "error": str,
    "events": list,
    "extra": dict,
}


@dataclass
class Run:
    """One run as far as this request knows it (its pieces merged)."""

    id: str
    trace_id: str
    parent_run_id: str | None = None
    name: str = ""
    # None when no piece said (a chain, then): a later piece that says wins.
    run_type: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    error: str | None = None
    events: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    posted: bool = False

    @property
    def is_root(self) -> bool:
        return self.parent_run_id is None

    @property
    def metadata(self) -> dict[str, Any]:
        metadata = self.extra.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def thread(self) -> str | None:
        """The conversation this run belongs to, from its metadata, if any."""
        for key in THREAD_KEYS:
            value = self.metadata.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
        return None

    @property
    def session_id(self) -> str:
        """The thread names the session, else the trace; a thread id that is no valid
        session id is replaced by a digest of it (kept in the session's metadata)."""
        thread = self.thread
        if thread is None:
            return self.trace_id
        if is_session_id(thread):
            return thread
        return "thread-" + hashlib.sha256(thread.encode()).hexdigest()[:32]


def _where(section: str, index: int) -> str:
    return f"Run {index} of '{section}'"


def _check_id(value: Any, name: str, where: str) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_RUN_ID
        or not is_session_id(value)
    ):
        raise InvalidEvent(
            f"{where} has {name} {str(value)[:80]!r}, which is not a run id (a UUID, as "
            "the LangSmith SDKs make, or up to 64 letters, digits, '.', '_', ':' or '-')."
        )
    return value


def run_time(value: Any, name: str, where: str) -> int | None:
    if value is None:
        return None
    # The SDKs send ISO 8601 with an offset; a time without one is UTC (as LangSmith
    # reads it), and a number is epoch milliseconds.
    if isinstance(value, str):
        try:
            naive = datetime.fromisoformat(value).tzinfo is None
        except ValueError:
            naive = False  # parse_ts says what is wrong with it
        if naive:
            value += "+00:00"
    try:
        return parse_ts(value)
    except InvalidEvent as e:
        raise InvalidEvent(f"{where}: '{name}' is not usable. {e.detail}") from None


def parse_run(raw: Any, section: str, index: int, *, run_id: str | None = None) -> Run:
    """One run object of a request, checked; InvalidEvent says what is wrong."""
    where = _where(section, index)
    if not isinstance(raw, dict):
        raise InvalidEvent(
            f"{where} is a JSON {type(raw).__name__}; each run is an object such as the "
            "LangSmith SDK sends ({'id': ..., 'trace_id': ..., 'run_type': ...})."
        )
    for name, kind in _RUN_FIELDS.items():
        value = raw.get(name)
        if value is not None and not isinstance(value, kind):
            raise InvalidEvent(
                f"{where} has '{name}' of type {type(value).__name__}; it must be a JSON "
                f"{'string' if kind is str else 'object' if kind is dict else 'array'} or null."
            )
    identifier = _check_id(run_id if run_id is not None else raw.get("id"), "id", where)
    parent = raw.get("parent_run_id")
    if parent is not None:
        _check_id(parent, "parent_run_id", where)
    trace = raw.get("trace_id")
    if trace is None:
        if parent is not None:
            raise InvalidEvent(
                f"{where} has a parent but no 'trace_id'; send the trace id the SDK "
                "gives every run (its root run's id)."
            )
        trace = identifier
    return Run(
        id=identifier,
        trace_id=_check_id(trace, "trace_id", where),
        parent_run_id=parent,
        name=raw.get("name") or "",
        run_type=raw.get("run_type") or None,
        start_us=run_time(raw.get("start_time"), "start_time", where),
        end_us=run_time(raw.get("end_time"), "end_time", where),
        inputs=raw.get("inputs"),
        outputs=raw.get("outputs"),
        error=raw.get("error"),
        events=raw.get("events") or [],
        extra=raw.get("extra") or {},
        posted=section == "post",
    )


def merge_runs(runs: Iterable[Run]) -> list[Run]:
    """Pieces of the same run in one request, as one run (later pieces win)."""
    merged: dict[str, Run] = {}
    for run in runs:
        known = merged.get(run.id)
        if known is None:
            merged[run.id] = run
            continue
        for name in ("start_us", "end_us", "inputs", "outputs", "error", "parent_run_id"):
            value = getattr(run, name)
            if value is not None:
                setattr(known, name, value)
        known.events = run.events or known.events
        known.extra = {**known.extra, **run.extra}
        known.name = run.name or known.name
        known.run_type = run.run_type or known.run_type
        known.posted = known.posted or run.posted
    return list(merged.values())
