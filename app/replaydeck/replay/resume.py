"""Where a replay resumes from its Last-Event-ID.

replaydeck's own ids are a seq (`7`) or a frame of an event's group (`7.2`). A
`format=sse` replay also sends an app's own SSE `id:` values back (kept as `sse_id` by
formats/generic.py), so a client reconnecting may name one of those: the replay goes on
right after the event that carried it. There the app's id wins over a seq of the same
spelling, as an app that numbers its events 1, 2, 3 … would otherwise be resumed at
replaydeck's seq 3, not at its own event 3. An id the app used twice (each call of a
run may count from 1 again) names its first use.
"""

from __future__ import annotations

import orjson

from replaydeck.errors import InvalidParameter
from replaydeck.sessions.models import OwnId, Resume
from replaydeck.store.base import EventStore

_HAS_OWN_ID = b'"sse_id"'
_HEADER = "The header parameter 'Last-Event-ID' is not valid"


async def resume_point(
    store: EventStore,
    session_id: str,
    given: Resume | OwnId | None,
    wire_format: str | None,
    *,
    page_size: int,
) -> Resume | None:
    """The Resume a replay goes on from; InvalidParameter when the header names nothing."""
    if given is None:
        return None
    value = given.value if isinstance(given, OwnId) else given.given
    if wire_format == "sse" and value:
        seq = await seq_of_own_id(store, session_id, value, page_size=page_size)
        if seq is not None:
            return Resume(after=seq, given=value)
        if isinstance(given, OwnId):
            raise InvalidParameter(
                f"{_HEADER}: {value[:60]!r} is neither the app's own id of an event in "
                f"session {session_id!r} nor a seq such as 7 or a frame id such as 7.2. "
                "Send the id of the last frame received, or resume with ?from=<seq>."
            )
    if isinstance(given, OwnId):
        raise InvalidParameter(
            f"{_HEADER}: {given.problem[0].lower()}{given.problem[1:]}. Only a "
            "format=sse replay sends an app's own ids; resume with ?from=<seq> instead."
        )
    return given


async def seq_of_own_id(
    store: EventStore, session_id: str, value: str, *, page_size: int
) -> int | None:
    """The seq of the first event that carried the app's own id `value`, or None.

    A paged scan with the store's lean reads rather than a query of its own: the id sits
    inside the event's data, which no backend indexes, so a query would scan the same
    rows; reading pages keeps memory to one page whatever the session weighs, and a
    byte test skips the (most) events that carry no id unparsed. A resume reads the
    events before its point anyway (replay/stream.py already_played).
    """
    after = 0
    while True:
        rows = await store.read_rows(session_id, after=after, limit=page_size)
        for seq, _, _, envelope in rows:
            if _HAS_OWN_ID in envelope:
                data = orjson.loads(envelope).get("data")
                if isinstance(data, dict) and data.get("sse_id") == value:
                    return seq
        if len(rows) < page_size:
            return None
        after = rows[-1][0]
