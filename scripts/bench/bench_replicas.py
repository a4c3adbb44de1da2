"""Replicas: does live fan-out scale out across replicas on one PostgreSQL database?

One session, `subscribers` live tails, `producers` connections posting
`events` ~200-byte events in batches of `batch` as fast as they can; delivered
events/s = subscribers x events / (first post -> last frame received), as in
fanout.py. Batches keep the one session's append rate (appends to a session
serialize on its row lock, whatever the number of replicas) from hiding the
fan-out, which is what replicas add capacity for.

- baseline: one replica holds every tail and takes every post;
- replaydeck: two replicas, half of the tails and half of the producers on
  each, so every event crosses replicas by LISTEN/NOTIFY to half its audience.

Target: two replicas deliver >= 1.6x what one does. Both runs use a fresh
database on the PostgreSQL at REPLAYDECK_BENCH_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test), migrated once before the replicas
start, and the same per-replica pool settings. On a 2-core machine the client,
the replicas and PostgreSQL share the cores, so one replica is not CPU-bound
either: part of the gain is each append's round trip getting shorter when the
fan-out writes are split between two event loops.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import loadclient as lc

SIZES = {
    "tiny": {"subscribers": 20, "events": 30, "batch": 3, "producers": 2},
    "default": {"subscribers": 1000, "events": 2000, "batch": 10, "producers": 8},
}
SESSION = "replicas"
TEXT = "x" * 72
ADMIN = os.environ.get("REPLAYDECK_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
# Per replica; two replicas x (pool + overflow + LISTEN) stay under max_connections=100.
POOL = {"pool_size": "20", "max_overflow": "20"}


@dataclass
class Outcome:
    delivered_per_s: float
    client_busy: float
    server_busy: float
    complete: bool


def make_batch(first: int, size: int) -> bytes:
    return orjson.dumps(
        [
            {"type": "message.delta", "id": f"e{i}", "data": {"text": TEXT, "t": lc.now_ns()}}
            for i in range(first, first + size)
        ]
    )


def psql(sql: str) -> None:
    env = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}
    subprocess.run(["psql", ADMIN, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, env=env)


@contextmanager
def database() -> Iterator[str]:
    """A fresh, migrated database for one run; dropped afterwards."""
    name = f"rd_bench_{os.getpid()}"
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN.rpartition("/")
    url = base.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    try:
        subprocess.run(
            [h.PYTHON, "-m", "replaydeck", "db", "upgrade", "--database-url", url],
            cwd=h.REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield url
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(ports: list[int], pids: list[int], p: dict[str, int]) -> Outcome:
    subs = p["subscribers"]
    stream = f"/v1/sessions/{SESSION}/stream"
    publish = f"/v1/sessions/{SESSION}/events"
    readers: list[lc.SseReader] = []
    share = subs // len(ports)
    for port in ports:
        readers += await lc.open_sse(port, stream, share)

    cpu0 = sum(h.cpu_seconds(pid) for pid in pids)
    meter = lc.CpuMeter()
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    # Producers split across the replicas the same way as the tails.
    batch = p["batch"]
    per_port = p["events"] // len(ports) // batch * batch

    async def produce(n: int, port: int) -> None:
        def post(i: int) -> tuple[str, str, bytes]:
            return "POST", publish, make_batch(n * per_port + i * batch, batch)

        await lc.closed_loop(
            port, post, count=per_port // batch, concurrency=p["producers"] // len(ports)
        )

    await asyncio.gather(*(produce(n, port) for n, port in enumerate(ports)))
    total = per_port * len(ports)
    complete = await lc.wait_frames(readers, total, limit_s=180)
    elapsed = loop.time() - t0
    for r in readers:
        r.close()
    return Outcome(
        delivered_per_s=len(readers) * total / elapsed,
        client_busy=meter.busy(),
        server_busy=(sum(h.cpu_seconds(pid) for pid in pids) - cpu0) / elapsed,
        complete=complete,
    )


async def create_session(port: int) -> None:
    conn = await lc.HttpConn.open(port)
    status, body = await conn.request("POST", "/v1/sessions", orjson.dumps({"id": SESSION}))
    await conn.close()
    if status != 201:
        raise RuntimeError(f"creating the session answered {status}: {body!r}")


def run(replicas: int, p: dict[str, int], work: Path) -> Outcome:
    with database() as url, ExitStack() as stack:
        ports, pids = [], []
        for n in range(replicas):
            port = h.free_port()
            env = {"REPLAYDECK_DATABASE_URL": url, "REPLAYDECK_MIGRATE_ON_START": "false"}
            env.update(h.UNLIMITED_STREAMS)
            env.update({f"REPLAYDECK_{k.upper()}": v for k, v in POOL.items()})
            log = work / f"replica-{replicas}-{n}.log"
            proc = stack.enter_context(h.server(h.replaydeck_server_cmd(port), port, env, log))
            ports.append(port)
            pids.append(proc.pid)

        async def go() -> Outcome:
            await create_session(ports[0])
            return await measure(ports, pids, p)

        return lc.run(go())


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("replicas") as work:
        one = run(1, p, work)
        two = run(2, p, work)
    notes = (
        f"{p['subscribers']} subs on PostgreSQL; client CPU {two.client_busy:.0%}/"
        f"{one.client_busy:.0%}, servers CPU {two.server_busy:.0%}/{one.server_busy:.0%} "
        f"(two/one); {os.cpu_count()} cores for client, replicas and PostgreSQL"
    )
    if not (one.complete and two.complete):
        notes += "; INCOMPLETE: some frames never arrived"
    ratio = h.ratio(two.delivered_per_s, one.delivered_per_s)
    h.report(
        [
            h.Row("replicas", "delivered events/s, 2 replicas vs 1", two.delivered_per_s,
                  one.delivered_per_s, ratio, ">= 1.6x", ratio >= 1.6 and two.complete,
                  "ev/s", notes),
        ],
        size=size,
        record=p["record"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
