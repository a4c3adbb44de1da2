"""Benchmark 3, live fan-out: one session, many live tails, in several workload shapes.

Both servers get the same load from the same client: `subscribers` SSE streams
on one session, then `producers` connections posting `batch` events a request.
Each shape runs against both servers in the same run (one server process each,
a fresh session per shape):

- b1, b20, b100: one producer posting batches of 1, 20 and 100 ~200-byte events;
- p8: eight producers, one event a request;
- 4k: one producer, batches of 20 events of ~4 KiB;
- t100: eight producers, one event a request, 100 tails instead of 1,000.

For each shape:

- peak: the producers post `events` (or for 40 s) as fast as they can; delivered
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
    "tiny": {"subscribers": 20, "events": 200, "paced_events": 100, "sample_every": 4},
    "default": {"subscribers": 1000, "events": 2000, "paced_events": 1000, "sample_every": 20},
}
SESSION = "fanout"
# A message.delta envelope with this much text, its seq, ids, ts and stamp is ~200 bytes.
TEXT = "x" * 72
BIG_TEXT = "x" * (4096 - 128)


@dataclass(frozen=True)
class Shape:
    name: str
    batch: int  # events per request
    producers: int  # concurrent producer connections
    text: str = TEXT
    tails: float = 1.0  # fraction of the size's subscribers


SHAPES = (
    Shape("b1", batch=1, producers=1),
    Shape("b20", batch=20, producers=1),
    Shape("b100", batch=100, producers=1),
    Shape("p8", batch=1, producers=8),
    Shape("4k", batch=20, producers=1, text=BIG_TEXT),
    Shape("t100", batch=1, producers=8, tails=0.1),
)


@dataclass
class Outcome:
    delivered_per_s: float
    p50_ms: float
    p99_ms: float
    client_busy: float
    server_busy: float
    complete: bool


def make_batch(i: int, shape: Shape) -> bytes:
    """Request i's body: one event, or a JSON array of `shape.batch` of them."""
    events = [
        {"type": "message.delta", "id": f"e{i}-{k}", "data": {"text": shape.text, "t": lc.now_ns()}}
        for k in range(shape.batch)
    ]
    return orjson.dumps(events[0] if shape.batch == 1 else events)


async def measure(
    port: int, pid: int, publish: str, stream: str, p: dict[str, int], shape: Shape
) -> Outcome:
    subs = max(1, int(p["subscribers"] * shape.tails))
    sample_every = max(1, int(p["sample_every"] * shape.tails))
    readers = await lc.open_sse(port, stream, subs, sample_every=sample_every)
    requests = max(1, p["events"] // shape.batch)

    def post(i: int) -> tuple[str, str, bytes]:
        return "POST", publish, make_batch(i, shape)

    cpu0, meter = h.cpu_seconds(pid), lc.CpuMeter()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    # Bounded in time as well as count: a slow server gives a smaller sample.
    posted = await lc.closed_loop(port, post, count=requests, concurrency=shape.producers, max_s=40)
    sent = len(posted.latencies_s) * shape.batch
    complete = await lc.wait_frames(readers, sent, limit_s=60)
    elapsed = loop.time() - t0
    peak = subs * sent / elapsed
    client_busy = meter.busy()
    server_busy = (h.cpu_seconds(pid) - cpu0) / elapsed

    for r in readers:
        r.latencies_ns.clear()
    rate = peak / subs / 2 / shape.batch  # requests/s for half the peak event rate

    def paced(i: int) -> tuple[str, str, bytes]:
        return "POST", publish, make_batch(requests + i, shape)

    paced_run = await lc.open_loop(
        port,
        paced,
        count=max(1, p["paced_events"] // shape.batch),
        rate=rate,
        connections=shape.producers,
        max_s=20,
    )
    total = sent + len(paced_run.latencies_s) * shape.batch
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


async def create_session(port: int, session: str) -> None:
    conn = await lc.HttpConn.open(port)
    status, body = await conn.request("POST", "/v1/sessions", orjson.dumps({"id": session}))
    await conn.close()
    if status != 201:
        raise RuntimeError(f"creating the session answered {status}: {body!r}")


def run_replaydeck(p: dict[str, int], work: Path) -> list[Outcome]:
    port = h.free_port()
    env = h.replaydeck_env(work / "fanout.db")
    with h.server(h.replaydeck_server_cmd(port), port, env, log=work / "replaydeck.log") as proc:

        async def go() -> list[Outcome]:
            outcomes = []
            for shape in SHAPES:
                session = f"{SESSION}-{shape.name}"
                await create_session(port, session)
                outcomes.append(
                    await measure(
                        port,
                        proc.pid,
                        f"/v1/sessions/{session}/events",
                        f"/v1/sessions/{session}/stream",
                        p,
                        shape,
                    )
                )
            return outcomes

        return lc.run(go())


def run_node(p: dict[str, int], work: Path) -> list[Outcome]:
    port = h.free_port()
    with h.server(h.node_cmd("broadcast.js", port), port, log=work / "node.log") as proc:

        async def go() -> list[Outcome]:
            # The Node server has one stream; each shape's tails join it fresh.
            return [await measure(port, proc.pid, "/publish", "/stream", p, s) for s in SHAPES]

        return lc.run(go())


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("fanout") as work:
        nodes = run_node(p, work)
        ours_all = run_replaydeck(p, work)
    rows = []
    for shape, ours, node in zip(SHAPES, ours_all, nodes, strict=True):
        tails = max(1, int(p["subscribers"] * shape.tails))
        notes = (
            f"{shape.name}: {tails} tails, {shape.producers} producer(s), batches of "
            f"{shape.batch}, ~{len(shape.text) + 128} B events; client CPU "
            f"{ours.client_busy:.0%}/{node.client_busy:.0%}, server CPU "
            f"{ours.server_busy:.0%}/{node.server_busy:.0%} (replaydeck/node)"
        )
        if not (ours.complete and node.complete):
            notes += "; INCOMPLETE: some frames never arrived"
        ratio = h.ratio(ours.delivered_per_s, node.delivered_per_s)
        rows += [
            h.Row("fan-out", f"delivered events/s ({shape.name})", ours.delivered_per_s,
                  node.delivered_per_s, ratio, ">= 1.0x", ratio >= 1.0 and ours.complete,
                  "ev/s", notes),
            h.Row("fan-out", f"p99 append-to-receive at half peak ({shape.name})", ours.p99_ms,
                  node.p99_ms, None, "<= 25 ms", ours.p99_ms <= 25, "ms",
                  f"p50 {ours.p50_ms:.2f}/{node.p50_ms:.2f} ms"),
        ]  # fmt: skip
    h.report(rows, size=size, record=p["record"])


if __name__ == "__main__":
    main()
