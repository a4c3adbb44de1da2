"""Benchmark 1, append: the store's batched append vs raw sqlite3.executemany.

replaydeck: `SqlStore.append` (SQLAlchemy Core on aiosqlite) of validated
events, `batch` per call (one transaction each), into a fresh session per round.
Baseline: the very rows replaydeck stored, re-inserted with the stdlib sqlite3
driver, `executemany` in one transaction per `batch`, into a file with the same
schema and pragmas (WAL, synchronous=NORMAL). Rounds alternate between the two
and the median of each side is compared. Target: >= 0.60x.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

from replaydeck.config import Settings
from replaydeck.events import NewEvent, validate_event
from replaydeck.store.backends import open_store
from replaydeck.store.engine import make_engine
from replaydeck.store.migrate import upgrade
from replaydeck.store.sql import SqlStore

SIZES = {
    "tiny": {"events": 300, "batch": 100, "rounds": 1},
    "default": {"events": 20_000, "batch": 100, "rounds": 5},
}
Row = tuple[str, int, str, str, int, bytes]


def make_events(n: int) -> list[NewEvent]:
    return [validate_event(h.event_payload(i), max_bytes=1 << 20) for i in range(n)]


async def replaydeck_round(
    store: SqlStore, session: str, events: list[NewEvent], batch: int
) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(events), batch):
        await store.append(session, events[start : start + batch])
    return len(events) / (time.perf_counter() - t0)


def raw_round(db: Path, rows: list[Row], session: str, batch: int) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "INSERT INTO sessions (id, created_at_us, metadata, status, last_seq) "
        "VALUES (?, 0, '{}', 'open', 0)",
        (session,),
    )
    renamed = [(session, *row[1:]) for row in rows]
    t0 = time.perf_counter()
    for start in range(0, len(renamed), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO events (session_id, seq, id, type, ts_us, envelope) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            renamed[start : start + batch],
        )
        conn.execute("COMMIT")
    rate = len(renamed) / (time.perf_counter() - t0)
    conn.close()
    return rate


async def fresh_store(db: Path) -> SqlStore:
    engine = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{db}"))
    await upgrade(engine)
    return open_store(engine)


async def run(p: dict[str, Any], work: Path) -> tuple[list[float], list[float]]:
    events = make_events(p["events"])
    ours_db, raw_db = work / "ours.db", work / "raw.db"
    store = await fresh_store(ours_db)
    await (await fresh_store(raw_db)).close()  # the same schema, by the same migration
    ours: list[float] = []
    raw: list[float] = []
    rows: list[Row] = []
    for r in range(p["rounds"]):
        ours.append(await replaydeck_round(store, f"s{r}", events, p["batch"]))
        if not rows:
            with sqlite3.connect(ours_db) as conn:
                rows = conn.execute(
                    "SELECT session_id, seq, id, type, ts_us, envelope FROM events "
                    "WHERE session_id = 's0' ORDER BY seq"
                ).fetchall()
        raw.append(raw_round(raw_db, rows, f"s{r}", p["batch"]))
    await store.close()
    return ours, raw


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("append") as work:
        ours, raw = asyncio.run(run(p, work))
    o, b = h.median(ours), h.median(raw)
    ratio = h.ratio(o, b)
    notes = f"{p['events']} events, {p['batch']}/transaction, median of {p['rounds']} rounds"
    h.report(
        [h.Row("append", "events/s (batched)", o, b, ratio, ">= 0.60x", ratio >= 0.6,
               "ev/s", notes)],
        size=size,
        record=p["record"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
