"""The bare FastAPI endpoint the HTTP ingest benchmark compares with.

It parses and validates the same JSON replaydeck's ingest takes (one event or a
list of them) and stores nothing, so the ratio shows what the log, the seq
assignment and the announcement cost on top of FastAPI itself.
Run: python bare_app.py PORT
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, StrictStr


class Delta(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    text: StrictStr
    message_id: StrictStr | None = None


class EventIn(BaseModel):
    type: StrictStr
    data: Delta
    id: StrictStr | None = None
    ts: StrictStr | float | None = None


app = FastAPI()
last_seq = 0


@app.post("/v1/sessions/{session_id}/events")
async def ingest(session_id: str, body: EventIn | list[EventIn]) -> dict[str, Any]:
    global last_seq
    events = body if isinstance(body, list) else [body]
    seqs = list(range(last_seq + 1, last_seq + 1 + len(events)))
    last_seq += len(events)
    return {"seqs": seqs, "last_seq": last_seq}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )
