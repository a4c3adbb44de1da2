"""SSE resume under cuts: a tail cut at random byte offsets and resumed with Last-Event-ID.

A writer appends to a live session while an EventSource-like client has its
connection cut (FIN or RST) at a random byte of the response, 200 times, each
time reconnecting with the id of the last frame it fully received. What the
client received, in order, must equal the log: no gap, no duplicate.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import httpx
import orjson
import pytest

from tests.reliability.rawsse import open_and_read
from tests.reliability.soak import size
from tests.servers import RunningServer
from tests.waiting import eventually

CUTS = size(200, 5000)

pytestmark = pytest.mark.anyio


class Reader:
    def __init__(self, port: int, session: str, rng: random.Random) -> None:
        self.port = port
        self.path = f"/v1/sessions/{session}/stream"
        self.rng = rng
        self.received: list[dict[str, Any]] = []
        self.cuts = 0
        self.done = False

    @property
    def last_id(self) -> int | None:
        return self.received[-1]["seq"] if self.received else None

    async def run(self) -> None:
        while not self.done:
            cutting = self.cuts < CUTS
            # Offsets from inside the status line to a few events in: every
            # layer (headers, chunk sizes, the retry field, frames) gets cut.
            connection = await open_and_read(
                self.port,
                self.path,
                self.last_id,
                cut_at=self.rng.randint(1, 1500) if cutting else None,
                rst=self.rng.random() < 0.5,
            )
            self.received.extend(connection.frames)
            if connection.status == 204 or any(f["type"] == "final" for f in connection.frames):
                self.done = True
            elif cutting:
                self.cuts += 1
            else:
                assert connection.ended, "an uncut tail ended before final"


async def test_tail_resumes_exactly_after_200_cuts(server: RunningServer) -> None:
    session = "cuts"
    rng = random.Random(4)
    reader = Reader(server.port, session, rng)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await client.post(f"/v1/sessions/{session}/events", json={"type": "status", "data": {}})

        async def write() -> None:
            n = 0
            while reader.cuts < CUTS:
                batch = [
                    {"type": "message.delta", "data": {"text": f"token {n + k} "}}
                    for k in range(rng.randint(1, 5))
                ]
                n += len(batch)
                response = await client.post(f"/v1/sessions/{session}/events", json=batch)
                assert response.status_code == 200
                last = response.json()["last_seq"]
                # Stay near the reader so that it mixes catch-up and live following.
                await eventually(lambda: (reader.last_id or 0) >= last - 20 or reader.cuts >= CUTS)  # noqa: B023
            await client.post(f"/v1/sessions/{session}/events", json={"type": "final"})

        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                group.start_soon(write)
                group.start_soon(reader.run)
        response = await client.get(
            f"/v1/sessions/{session}/events", headers={"Accept": "application/x-ndjson"}
        )
        log = [orjson.loads(line) for line in response.content.splitlines()]
    assert reader.cuts == CUTS
    assert [e["seq"] for e in reader.received] == list(range(1, len(log) + 1))
    assert reader.received == log
    print(f"\n[resume] {CUTS} cuts, {len(log)} events received exactly once, in order")
