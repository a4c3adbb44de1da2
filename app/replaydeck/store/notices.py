"""The notice a PostgreSQL commit sends to every replica: "session S now ends at seq N".

The store sends it inside the transaction that made the change (so only commits
are heard); live/pg_notify.py listens for it and wakes the local followers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

CHANNEL = "replaydeck_seq"
# A deleted session travels as this seq, so followers on every replica end.
DELETED = -1
# A revoked share link's id, so every replica ends that link's open streams.
REVOKED_CHANNEL = "replaydeck_share_revoked"


@dataclass(frozen=True, slots=True)
class Notice:
    session_id: str
    last_seq: int
    sent_us: int


def encode_notice(session_id: str, last_seq: int, sent_us: int) -> str:
    # Plain text, session id last: ids may hold spaces, numbers never do.
    # Far below NOTIFY's 8000-byte payload limit (session ids are <= 128 chars).
    return f"{last_seq} {sent_us} {session_id}"


def decode_notice(payload: str) -> Notice | None:
    parts = payload.split(" ", 2)
    if len(parts) != 3:
        return None
    try:
        return Notice(parts[2], int(parts[0]), int(parts[1]))
    except ValueError:
        return None


def notify_statement(session_id: str, last_seq: int) -> sa.Select[Any]:
    """The statement an append runs in its transaction to tell other replicas."""
    payload = encode_notice(session_id, last_seq, time.time_ns() // 1000)
    return sa.select(sa.func.pg_notify(CHANNEL, payload))


def revoked_statement(share_id: str) -> sa.Select[Any]:
    """The statement a share's revocation runs in its transaction to tell other replicas."""
    return sa.select(sa.func.pg_notify(REVOKED_CHANNEL, share_id))
