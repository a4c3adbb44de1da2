"""The code under test in the worked example: an event stream → a chat transcript.

A UI or a log would show this transcript; the golden test pins it down. It pairs
each tool call with its result, joins the answer's chunks, and keeps errors.
"""

from collections.abc import AsyncIterable
from typing import Any

Entry = dict[str, Any]


async def build_transcript(events: AsyncIterable[dict[str, Any]]) -> list[Entry]:
    entries: list[Entry] = []
    calls: dict[str, dict[str, Any]] = {}
    answer: list[str] = []

    def flush_answer() -> None:
        if answer:
            entries.append({"type": "assistant", "text": "".join(answer)})
            answer.clear()

    async for event in events:
        kind, data = event["type"], event.get("data", {})
        if kind == "message.delta":
            answer.append(data["text"])
            continue
        flush_answer()
        if kind == "status":
            entries.append({"type": "note", "text": data["label"]})
        elif kind == "tool.call":
            calls[data["call_id"]] = data
        elif kind == "tool.result":
            call = calls.pop(data["call_id"], {})
            entries.append(
                {
                    "type": "tool",
                    "name": data["name"],
                    "args": call.get("args"),
                    "result": data["result"],
                    "failed": bool(data.get("is_error")),
                }
            )
        elif kind == "error":
            entries.append({"type": "error", "text": data["message"]})
        elif kind == "final":
            entries.append({"type": "end", "usage": data.get("usage")})
    flush_answer()
    return entries
