"""Giving new events their seqs and envelopes: the store's rules, as a pure function."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from replaydeck.errors import SeqConflict, SessionClosed
from replaydeck.events import NewEvent, build_envelope
from replaydeck.store.base import AppendResult, SessionRecord, StoredEvent

# The session metadata key under which the store sums what redaction replaced
# (NewEvent.redacted), and the largest count it holds: every JSON reader gets
# an integer up to 2**53 - 1 exactly.
REDACTED_KEY = "redacted"
MAX_REDACTED = 2**53 - 1


def new_event_id() -> str:
    return "ev_" + secrets.token_hex(8)


def is_redacted_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REDACTED


def with_redacted(metadata: Mapping[str, Any], added: int) -> dict[str, Any]:
    """`metadata` with `added` more redactions counted under REDACTED_KEY.

    A session stored before the key was reserved may hold anything a producer
    sent there ("abc", null, 1e300): that value is replaced by the count, never
    summed, so it cannot fail the append that redacts a secret.
    """
    held = metadata.get(REDACTED_KEY, 0)
    count = held if is_redacted_count(held) else 0
    return {**metadata, REDACTED_KEY: min(count + added, MAX_REDACTED)}


# Fields for one stored event's envelope, given its id (a StampDraft's `stamp`).
Stamp = Callable[[str, NewEvent], Mapping[str, Any]]


def assign(
    session: SessionRecord,
    events_in: Sequence[NewEvent],
    known: dict[str, int],
    received_us: int,
    expected_seq: int | None = None,
    stamp: Stamp | None = None,
) -> AppendResult:
    """The outcome of appending `events_in` to `session`, given the ids it `known`s.

    Pure, so the rules are easy to trust and both write paths (one append, a
    group commit) share them: gapless seqs after the last; a repeated id gets
    its original seq and stores nothing; nothing after `final`; `expected_seq`
    must be the session's last seq, unless every event is a repeat (the retry
    of an append that already committed gets its original seqs). `stamp` sees
    only the events stored, and only once the whole request is accepted.
    """
    stale = expected_seq is not None and expected_seq != session.last_seq
    if stale and not all(e.id is not None and e.id in known for e in events_in):
        assert expected_seq is not None
        raise SeqConflict(session.id, expected_seq, session.last_seq)
    seq = session.last_seq
    first_ts_us = session.first_ts_us
    last_ts_us = session.last_ts_us
    status = session.status
    final_seq = session.final_seq
    redacted = 0
    seen = dict(known)
    seqs: list[int] = []
    # First every rule (a refusal may come at the last event), then the envelopes.
    accepted: list[tuple[int, str, int, NewEvent]] = []
    for event in events_in:
        if event.id is not None and event.id in seen:
            seqs.append(seen[event.id])
            continue
        if status == "complete":
            assert final_seq is not None
            raise SessionClosed(session.id, final_seq)
        seq += 1
        ts_us = event.ts_us if event.ts_us is not None else received_us
        if first_ts_us is None:
            first_ts_us = ts_us
        last_ts_us = ts_us if last_ts_us is None else max(last_ts_us, ts_us)
        event_id = event.id if event.id is not None else new_event_id()
        seen[event_id] = seq
        accepted.append((seq, event_id, ts_us, event))
        seqs.append(seq)
        redacted += event.redacted
        if event.type == "final":
            status = "complete"
            final_seq = seq
    appended = [
        StoredEvent(
            seq,
            event_id,
            event.type,
            ts_us,
            build_envelope(
                seq=seq,
                event_id=event_id,
                event=event,
                ts_us=ts_us,
                first_ts_us=first_ts_us if first_ts_us is not None else ts_us,
                extra=None if stamp is None else stamp(event_id, event),
            ),
        )
        for seq, event_id, ts_us, event in accepted
    ]
    metadata = session.metadata
    if redacted:
        # Repeats are skipped above, so a retried batch is not counted twice.
        metadata = with_redacted(metadata, redacted)
    after = dataclasses.replace(
        session,
        metadata=metadata,
        status=status,
        last_seq=seq,
        first_ts_us=first_ts_us,
        last_ts_us=last_ts_us,
        final_seq=final_seq,
    )
    return AppendResult(after, seqs, appended)
