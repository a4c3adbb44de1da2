"""Benchmark 4, idle connections: memory per open live tail that carries only heartbeats.

The client opens `connections` live tails on one quiet session, waits until
every stream has had its first keep-alive comment (heartbeats every
`heartbeat_s`), and reads the server's resident memory. Per connection =
(RSS with them open - RSS after a warm-up stream) / connections.

Baseline: node/idle.js (node:http, one shared heartbeat timer). Target: at most
the baseline's memory per connection (<= 1.0x).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import loadclient as lc

SIZES = {
    "tiny": {"connections": 50, "heartbeat_s": 0.5},
    "default": {"connections": 10_000, "heartbeat_s": 2.0},
}
SESSION = "idle"


@dataclass
class Outcome:
    per_conn_kib: float
    all_pinged: bool


async def measure(port: int, pid: int, stream: str, p: dict[str, float]) -> Outcome:
    # One stream first so lazily built routes, caches and buffers are not
    # charged to the connections being measured.
    warm = await lc.open_sse(port, stream, 1)
    for r in warm:
        r.close()
    await asyncio.gather(*(r.closed for r in warm))
    before = h.rss_kib(pid)
    n = int(p["connections"])
    readers = await lc.open_sse(port, stream, n, connect_batch=250, limit_s=300)
    all_pinged = await wait_pings(readers, limit_s=10 * p["heartbeat_s"] + 30)
    after = h.rss_kib(pid)
    for r in readers:
        r.close()
    return Outcome((after - before) / n, all_pinged)


async def wait_pings(readers: list[lc.SseReader], limit_s: float) -> bool:
    """Wait (polling, with a deadline) until every stream has had a keep-alive."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        if all(r.pings > 0 for r in readers):
            return True
        await asyncio.sleep(0.1)  # no event to await for "all readers pinged"
    return False


def run_replaydeck(p: dict[str, float], work: Path) -> Outcome:
    port = h.free_port()
    env = h.replaydeck_env(work / "idle.db", heartbeat_interval=str(p["heartbeat_s"]))
    with h.server(h.replaydeck_server_cmd(port), port, env, log=work / "replaydeck.log") as proc:

        async def go() -> Outcome:
            conn = await lc.HttpConn.open(port)
            status, body = await conn.request("POST", "/v1/sessions", orjson.dumps({"id": SESSION}))
            await conn.close()
            if status != 201:
                raise RuntimeError(f"creating the session answered {status}: {body!r}")
            return await measure(port, proc.pid, f"/v1/sessions/{SESSION}/stream", p)

        return lc.run(go())


def run_node(p: dict[str, float], work: Path) -> Outcome:
    port = h.free_port()
    heartbeat_ms = str(int(p["heartbeat_s"] * 1000))
    with h.server(h.node_cmd("idle.js", port, heartbeat_ms), port, log=work / "node.log") as proc:
        return lc.run(measure(port, proc.pid, "/stream", p))


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("idle") as work:
        node = run_node(p, work)
        ours = run_replaydeck(p, work)
    ratio = h.ratio(ours.per_conn_kib, node.per_conn_kib)
    notes = f"{int(p['connections'])} connections"
    if not (ours.all_pinged and node.all_pinged):
        notes += "; some streams never got a heartbeat"
    met = ratio <= 1.0 and ours.all_pinged
    h.report(
        [
            h.Row("idle connections", "memory per connection", ours.per_conn_kib,
                  node.per_conn_kib, ratio, "<= 1.0x", met, "KiB", notes),
        ],
        size=size,
        record=p["record"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
