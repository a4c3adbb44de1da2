"""A realistic demo session: an agent answers a question with a web search."""

from __future__ import annotations

import time
from typing import Any

from replaydeck.ingest.service import Ingest

DEMO_SESSION_ID = "demo"

_ANSWER = (
    "Server-Sent Events (SSE) is a one-way HTTP stream: the server keeps the response "
    "open and writes `event:`/`data:` frames as they happen. Browsers reconnect by "
    "themselves and send `Last-Event-ID`, so a server that numbers its events can "
    "resume exactly where the client left off. For LLM apps that is the natural fit: "
    "tokens flow one way, and proxies only need buffering turned off."
)


def _script() -> list[tuple[float, str, dict[str, Any]]]:
    """(offset in ms, type, data): the rhythm of a real agent turn."""
    steps: list[tuple[float, str, dict[str, Any]]] = [
        (0, "status", {"label": "Reading the question"}),
        (420, "status", {"label": "Searching the web"}),
        (
            610,
            "tool.call",
            {"name": "web.search", "args": {"q": "server-sent events resume"}, "call_id": "c1"},
        ),
        (
            1860,
            "tool.result",
            {
                "name": "web.search",
                "call_id": "c1",
                "result": [
                    {"title": "Server-sent events - HTML Standard", "snippet": "Last-Event-ID"},
                    {"title": "Using server-sent events - MDN", "snippet": "EventSource"},
                ],
            },
        ),
        (1990, "status", {"label": "Writing the answer"}),
    ]
    offset = 2350.0
    words = _ANSWER.split(" ")
    for index in range(0, len(words), 3):
        chunk = " ".join(words[index : index + 3]) + ("" if index + 3 >= len(words) else " ")
        steps.append((offset, "message.delta", {"text": chunk, "message_id": "m1"}))
        # Token streams are bursty: mostly quick chunks, the odd pause.
        offset += 38 + (index * 7) % 45 + (160 if index % 27 == 0 else 0)
    steps.append((offset + 120, "final", {"usage": {"input_tokens": 412, "output_tokens": 96}}))
    return steps


async def record_demo(ingest: Ingest, session_id: str = DEMO_SESSION_ID) -> int:
    """Append the demo with producer timestamps ending now; returns its last seq."""
    steps = _script()
    start_ms = time.time() * 1000 - steps[-1][0]
    raw = [
        {"id": f"demo-{index}", "type": kind, "data": data, "ts": start_ms + offset}
        for index, (offset, kind, data) in enumerate(steps)
    ]
    await ingest.store.create_session(
        session_id, metadata={"app": "demo-agent", "question": "How do I resume an SSE stream?"}
    )
    result = await ingest.append_raw(session_id, raw)
    return result.last_seq
