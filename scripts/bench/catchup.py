"""Benchmark 6, catch-up: replay at speed=max vs a raw sqlite3 fetch-and-write loop.

One session of `events` ~200-byte events is ingested; then one client reads it
whole, `rounds` times: from replaydeck as `GET /v1/sessions/{id}/replay?speed=max`,
and from baseline_catchup.py, which reads the same database file with the stdlib
sqlite3 driver and writes the same SSE frames from a bare asyncio server.
Events/s = events / (request sent -> stream closed), median of the rounds.
Target: >= 0.50x.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import loadclient as lc

SIZES = {
    "tiny": {"events": 500, "rounds": 1},
    "default": {"events": 50_000, "rounds": 5},
}
SESSION = "catchup"


async def read_all(port: int, path: str, expect: int) -> float:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    [reader] = await lc.open_sse(port, path, 1)
    async with asyncio.timeout(120):
        await reader.closed
    elapsed = loop.time() - t0
    if reader.frames < expect:
        raise RuntimeError(f"{path} sent {reader.frames} frames, expected {expect}")
    return expect / elapsed


async def ingest(port: int, n: int) -> None:
    conn = await lc.HttpConn.open(port)
    for start in range(0, n, 500):
        batch = [h.event_payload(i) for i in range(start, min(n, start + 500))]
        if start + 500 >= n:
            # A finished session: the replay ends after it instead of following live.
            batch.append({"type": "final", "data": {}})
        status, body = await conn.request(
            "POST", f"/v1/sessions/{SESSION}/events", orjson.dumps(batch)
        )
        if status >= 300:
            raise RuntimeError(f"ingest answered {status}: {body!r}")
    await conn.close()


def run_replaydeck(p: dict[str, Any], db: Path, work: Path) -> list[float]:
    port = h.free_port()
    with h.server(h.replaydeck_server_cmd(port), port, h.replaydeck_env(db), work / "rd.log"):

        async def go() -> list[float]:
            await ingest(port, p["events"])
            path = f"/v1/sessions/{SESSION}/replay?speed=max"
            return [await read_all(port, path, p["events"]) for _ in range(p["rounds"])]

        return lc.run(go())


def run_baseline(p: dict[str, Any], db: Path, work: Path) -> list[float]:
    port = h.free_port()
    cmd = [h.PYTHON, str(h.BENCH_DIR / "baseline_catchup.py"), str(port), str(db)]
    with h.server(cmd, port, log=work / "baseline.log"):

        async def go() -> list[float]:
            path = f"/catchup/{SESSION}"
            return [await read_all(port, path, p["events"]) for _ in range(p["rounds"])]

        return lc.run(go())


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("catchup") as work:
        db = work / "catchup.db"
        ours = h.median(run_replaydeck(p, db, work))
        base = h.median(run_baseline(p, db, work))
    ratio = h.ratio(ours, base)
    notes = f"{p['events']} events, median of {p['rounds']} reads"
    h.report(
        [h.Row("catch-up", "events/s (speed=max)", ours, base, ratio, ">= 0.50x",
               ratio >= 0.5, "ev/s", notes)],
        size=size,
        record=p["record"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
