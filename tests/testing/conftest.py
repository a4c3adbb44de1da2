from typing import Any

import pytest


def envelope(seq: int, type_: str, data: dict[str, Any], offset_ms: float) -> dict[str, Any]:
    """One event as the store returns it, with every volatile field set."""
    return {
        "seq": seq,
        "id": f"e{seq}",
        "type": type_,
        "ts": f"2026-11-23T10:00:{offset_ms / 1000:09.6f}Z",
        "offset_ms": offset_ms,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": f"{seq:016x}",
        "data": data,
    }


@pytest.fixture
def agent_turn() -> list[dict[str, Any]]:
    """A recorded agent turn: status, a tool round trip, a chunked answer, final."""
    search = {"name": "web.search", "args": {"q": "sse"}, "call_id": "c1"}
    result = {"name": "web.search", "call_id": "c1", "result": {"hits": ["a", "b"]}}
    return [
        envelope(1, "status", {"label": "thinking"}, 0.0),
        envelope(2, "tool.call", search, 250.0),
        envelope(3, "tool.result", result, 1250.0),
        envelope(4, "message.delta", {"text": "Server-Sent ", "message_id": "m1"}, 1300.0),
        envelope(5, "message.delta", {"text": "Events are ", "message_id": "m1"}, 1350.0),
        envelope(6, "message.delta", {"text": "one-way.", "message_id": "m1"}, 1400.0),
        envelope(7, "final", {"usage": {"input_tokens": 12, "output_tokens": 5}}, 1500.0),
    ]
