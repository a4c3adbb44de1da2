"""Benchmark 3, live fan-out: one session, many live tails, ~200-byte events.

Both servers get the same load from the same client: `subscribers` SSE streams
on one session, then a producer posting events one per request.

- peak: the producer posts `events` (or for 40 s) as fast as 8 connections allow; delivered
  events/s = subscribers x events / (first post -> last frame received).
- paced: the producer posts `paced_events` at half of that server's peak event
  rate; every `sample_every`-th subscriber measures append-to-receive latency
  from the producer's monotonic stamp carried in the payload.

Baseline: node/broadcast.js (node:http only). Targets: delivered/s >= 1.0x the
baseline; p99 append-to-receive <= 25 ms at half of peak.
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
    "tiny": {"subscribers": 20, "events": 40, "paced_events": 20, "sample_every": 4},
    "default": {"subscribers": 1000, "events": 1500, "paced_events": 600, "sample_every": 20},
}
SESSION = "fanout"
# A message.delta envelope with this much text, its seq, ids, ts and stamp is ~200 bytes.
TEXT = "x" * 72


@dataclass
class Outcome:
    delivered_per_s: float
    p50_ms: float
    p99_ms: float
    client_busy: float
    server_busy: float
    complete: bool


def make_event(i: int) -> bytes:
    return orjson.dumps(
        {"type": "message.delta", "id": f"e{i}", "data": {"text": TEXT, "t": lc.now_ns()}}
    )


async def measure(port: int, pid: int, publish: str, stream: str, p: dict[str, int]) -> Outcome:
    subs = p["subscribers"]
    readers = await lc.open_sse(port, stream, subs, sample_every=p["sample_every"])

    def post(i: int) -> tuple[str, str, bytes]:
        return "POST", publish, make_event(i)

    cpu0, meter = h.cpu_seconds(pid), lc.CpuMeter()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    # Bounded in time as well as count: a slow server gives a smaller sample.
    posted = await lc.closed_loop(port, post, count=p["events"], concurrency=8, max_s=40)
    sent = len(posted.latencies_s)
    complete = await lc.wait_frames(readers, sent, limit_s=60)
    elapsed = loop.time() - t0
    peak = subs * sent / elapsed
    client_busy = meter.busy()
    server_busy = (h.cpu_seconds(pid) - cpu0) / elapsed

    for r in readers:
        r.latencies_ns.clear()
    rate = peak / subs / 2

    def paced(i: int) -> tuple[str, str, bytes]:
        return "POST", publish, make_event(p["events"] + i)

    paced_run = await lc.open_loop(
        port, paced, count=p["paced_events"], rate=rate, connections=8, max_s=20
    )
    total = sent + len(paced_run.latencies_s)
    complete = await lc.wait_frames(readers, total, limit_s=60) and complete
    latencies = [ns / 1e6 for r in readers for ns in r.latencies_ns]
    for r in readers:
        r.close()
    return Outcome(
        delivered_per_s=peak,
        p50_ms=h.percentile(latencies, 50),
        p99_ms=h.percentile(latencies, 99),
        client_busy=client_busy,
        server_busy=server_busy,
        complete=complete,
    )


async def create_session(port: int) -> None:
    conn = await lc.HttpConn.open(port)
    status, body = await conn.request("POST", "/v1/sessions", orjson.dumps({"id": SESSION}))
    await conn.close()
    if status != 201:
        raise RuntimeError(f"creating the session answered {status}: {body!r}")


def run_replaydeck(p: dict[str, int], work: Path) -> Outcome:
    port = h.free_port()
    env = h.replaydeck_env(work / "fanout.db")
    with h.server(h.replaydeck_server_cmd(port), port, env, log=work / "replaydeck.log") as proc:

        async def go() -> Outcome:
            await create_session(port)
            return await measure(
                port,
                proc.pid,
                f"/v1/sessions/{SESSION}/events",
                f"/v1/sessions/{SESSION}/stream",
                p,
            )

        return lc.run(go())


def run_node(p: dict[str, int], work: Path) -> Outcome:
    port = h.free_port()
    with h.server(h.node_cmd("broadcast.js", port), port, log=work / "node.log") as proc:
        return lc.run(measure(port, proc.pid, "/publish", "/stream", p))


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("fanout") as work:
        node = run_node(p, work)
        ours = run_replaydeck(p, work)
    notes = (
        f"{p['subscribers']} subs; client CPU {ours.client_busy:.0%}/{node.client_busy:.0%}, "
        f"server CPU {ours.server_busy:.0%}/{node.server_busy:.0%} (replaydeck/node)"
    )
    if not (ours.complete and node.complete):
        notes += "; INCOMPLETE: some frames never arrived"
    ratio = h.ratio(ours.delivered_per_s, node.delivered_per_s)
    h.report(
        [
            h.Row("fan-out", "delivered events/s", ours.delivered_per_s, node.delivered_per_s,
                  ratio, ">= 1.0x", ratio >= 1.0 and ours.complete, "ev/s", notes),
            h.Row("fan-out", "p99 append-to-receive at half peak", ours.p99_ms, node.p99_ms,
                  None, "<= 25 ms", ours.p99_ms <= 25, "ms",
                  f"p50 {ours.p50_ms:.2f}/{node.p50_ms:.2f} ms"),
        ],
        size=size,
        record=p["record"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
