"""Secrets that a message's deltas split between them, caught within one batch.

A model streams a key as several ``message.delta`` chunks (``sk-pr`` ``oj-abc…``);
no chunk matches a pattern on its own, but the message a reader sees does. So
the deltas of each message in a batch are joined and scanned once more. A match
that spans chunks leaves every chunk it touched: the first keeps ``[REDACTED]``
in its place and the others lose their part, so the joined message reads as if
it had been sent in one piece, and no part of the secret is left behind.

Chunks of one message sent in separate requests are not joined: the earlier
ones are stored and streamed before the later ones arrive, and holding deltas
back would delay every live tail (see the README's known limits).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

import orjson

from replaydeck.events import TURN_END, NewEvent
from replaydeck.ingest.redact import REDACTED, RedactionRules

_DELTA = "message.delta"
# What ends a message that has no message_id, as the tracer and the viewer read it.
_ENDS_MESSAGE = frozenset({"tool.call", "tool.result", "error", "final", "user.message", TURN_END})


def redact_split_secrets(events: Sequence[NewEvent], rules: RedactionRules) -> list[NewEvent]:
    """The events with split secrets taken out, each split secret counted once in
    the `redacted` of the chunk where it starts.

    Runs before each event is redacted on its own, on the text as sent: a chunk's
    own redaction would rewrite a secret's first part and hide the rest of it.
    """
    messages: dict[tuple[str, object], list[int]] = {}
    unnamed = 0  # deltas without a message_id: one message until a tool call or the like
    for index, event in enumerate(events):
        if event.type in _ENDS_MESSAGE:
            unnamed += 1
        elif event.type == _DELTA and isinstance(event.data.get("text"), str):
            message_id = event.data.get("message_id")
            key = ("#", unnamed) if message_id is None else ("id", message_id)
            messages.setdefault(key, []).append(index)
    out = list(events)
    for indexes in messages.values():
        if len(indexes) < 2:
            continue
        texts = [events[i].data["text"] for i in indexes]
        # One scan of the joined text: a message without a secret (nearly every
        # one) costs this and nothing more.
        if not rules.could_match("".join(texts)):
            continue
        found = _remove_split_matches(texts, rules)
        for position, index in enumerate(indexes):
            event = events[index]
            if texts[position] == event.data["text"]:
                continue
            data = {**event.data, "text": texts[position]}
            out[index] = replace(
                event,
                data=data,
                data_json=orjson.dumps(data),
                redacted=event.redacted + found[position],
            )
    return out


def _remove_split_matches(texts: list[str], rules: RedactionRules) -> list[int]:
    """Edit texts in place; per chunk, how many split secrets start in it."""
    found = [0] * len(texts)
    for pattern in rules.patterns:
        joined = "".join(texts)
        starts = _starts(texts)
        edits = []
        for match in pattern.finditer(joined):
            first = bisect.bisect_right(starts, match.start()) - 1
            last = bisect.bisect_right(starts, match.end() - 1) - 1
            if first == last:
                continue  # inside one chunk: that chunk's own scan judged it
            span = match.span()
            if "secret" in pattern.groupindex and match.group("secret") is not None:
                if match.group("secret") == REDACTED:
                    continue
                span = match.span("secret")
            edits.append(span)
        # Right to left, so the offsets of the edits still to make stay valid.
        for start, end in reversed(edits):
            found[_cut(texts, starts, start, end)] += 1
    return found


def _starts(texts: list[str]) -> list[int]:
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text)
    return starts


def _cut(texts: list[str], starts: list[int], start: int, end: int) -> int:
    """Take joined[start:end] out of the chunks; the first chunk touched gets the
    marker. Returns that chunk's position."""
    first = bisect.bisect_right(starts, start) - 1
    position = first
    while position < len(texts) and starts[position] < end:
        text, base = texts[position], starts[position]
        cut_from, cut_to = max(start, base) - base, min(end, base + len(text)) - base
        marker = REDACTED if position == first else ""
        texts[position] = text[:cut_from] + marker + text[cut_to:]
        position += 1
    return first
