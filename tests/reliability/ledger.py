"""What writers were told, and the checks that the log kept every promise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Ledger:
    """Acknowledged events (a 2xx with their seqs) and batches whose fate is unknown."""

    # (session, event id) -> the seq a 2xx reported
    acked: dict[tuple[str, str], int] = field(default_factory=dict)
    # batches sent without a response: (session, events)
    pending: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    # pending events found already stored when retried (commit happened, response lost)
    committed_unacked: int = 0
    # retries that returned the seq the event already had
    retries_with_original_seq: int = 0

    def ack(self, session_id: str, batch: list[dict[str, Any]], seqs: list[int]) -> None:
        assert len(seqs) == len(batch)
        for event, seq in zip(batch, seqs, strict=True):
            key = (session_id, event["id"])
            previous = self.acked.setdefault(key, seq)
            assert previous == seq, f"{key} acknowledged as seq {previous} and then {seq}"


def check_log(ledger: Ledger, logs: dict[str, list[dict[str, Any]]]) -> int:
    """Assert: no acknowledged event lost or moved, no duplicate, seqs 1..N. Returns N total."""
    stored: dict[tuple[str, str], int] = {}
    total = 0
    for session_id, envelopes in logs.items():
        seqs = [e["seq"] for e in envelopes]
        assert seqs == list(range(1, len(seqs) + 1)), f"{session_id}: seqs not contiguous"
        ids = [e["id"] for e in envelopes]
        assert len(ids) == len(set(ids)), f"{session_id}: duplicate event ids"
        payloads = [orjson.dumps(e["data"]) for e in envelopes]
        assert len(payloads) == len(set(payloads)), f"{session_id}: duplicate payloads"
        stored.update({(session_id, e["id"]): e["seq"] for e in envelopes})
        total += len(envelopes)
    lost = {key: seq for key, seq in ledger.acked.items() if stored.get(key) != seq}
    assert not lost, f"{len(lost)} acknowledged events lost or moved, e.g. {list(lost)[:5]}"
    return total
