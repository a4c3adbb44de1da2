"""Benchmark 5, replay timing: many concurrent replays at speed 1, how late is each event.

Two workload shapes, each replayed `replays` times at once at speed 1, the streams
starting spread over `spread_s`:

- random: `sessions` sessions of `events` events with random gaps (exponential, mean
  `gap_ms`);
- steady: one session of `steady_events` events `steady_gap_ms` apart (1,000 replays
  of 100 events 20 ms apart at the default size: every replay due at once, often).

The client stamps each frame's arrival. A stream's start is not visible from outside,
so each stream is anchored at the earliest start its arrivals allow (min over events of
arrival - offset) and an event's lateness is arrival - (anchor + offset): a lower bound,
never negative. An event is early when it arrives before (request sent + offset), which
no correct replay can do.

Peers, each serving the same frames at the same absolute deadlines in the same run:
node/replay.js (node:http, a `setTimeout` per frame computed from its deadline) and
baseline_replay.py (a bare asyncio server, `loop.call_at`, the floor for Python). Target:
lateness p99 at or below Node's (ratio <= 1.0x) on each shape, no event early; p50 is
reported beside the bare `call_at` server's.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import loadclient as lc

SIZES = {
    "tiny": {"sessions": 4, "events": 5, "gap_ms": 20, "replays": 20, "spread_s": 0.2,
             "steady_events": 10, "steady_gap_ms": 20},
    "default": {"sessions": 100, "events": 20, "gap_ms": 150, "replays": 1000, "spread_s": 1.0,
                "steady_events": 100, "steady_gap_ms": 20},
}  # fmt: skip
SHAPES = ("random", "steady")
T0_MS = 1_795_000_000_000  # a fixed epoch-ms origin, so runs are repeatable


@dataclass
class Outcome:
    p50_ms: float
    p99_ms: float
    early: int
    samples: int
    complete: bool
    client_busy: float


def make_sessions(shape: str, p: dict[str, float]) -> dict[str, list[float]]:
    """Each session's event offsets in ms."""
    if shape == "steady":
        gap = p["steady_gap_ms"]
        return {"replay-steady": [i * gap for i in range(int(p["steady_events"]))]}
    rng = random.Random(8)
    sessions = {}
    for s in range(int(p["sessions"])):
        offsets, t = [], 0.0
        for _ in range(int(p["events"])):
            offsets.append(round(t, 3))
            t += rng.expovariate(1 / p["gap_ms"])
        sessions[f"replay-{s}"] = offsets
    return sessions


def event(i: int, count: int) -> dict[str, object]:
    # The last event is `final`, so each replay ends (replay.end) and closes.
    if i == count - 1:
        return {"type": "final", "data": {}}
    return {"type": "message.delta", "data": {"text": "x" * 80}}


def envelope(seq: int, offset_ms: float, count: int) -> dict[str, object]:
    ts = datetime.fromtimestamp((T0_MS + offset_ms) / 1000, UTC).isoformat().replace("+00:00", "Z")
    return {"seq": seq, "id": f"e{seq}", "ts": ts, "offset_ms": offset_ms,
            **event(seq - 1, count)}  # fmt: skip


async def measure(port: int, path_for: str, sessions: dict[str, list[float]],
                  p: dict[str, float]) -> Outcome:  # fmt: skip
    loop = asyncio.get_running_loop()
    names = list(sessions)
    n = int(p["replays"])
    readers: list[tuple[lc.SseReader, list[float], int]] = []

    async def one(i: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - loop.time()))  # staggering the starts on purpose
        name = names[i % len(names)]
        _, reader = await loop.create_connection(
            lambda: lc.SseReader(sample=False, arrivals=True), lc.HOST, port
        )
        assert reader.transport is not None
        sent = lc.now_ns()
        reader.transport.write(lc.sse_request(path_for.format(session=name)))
        readers.append((reader, sessions[name], sent))
        await reader.closed

    meter = lc.CpuMeter()
    start = loop.time() + 0.1
    spread = p["spread_s"]
    longest = max(offsets[-1] for offsets in sessions.values()) / 1000
    complete = True
    try:
        async with asyncio.timeout(spread + longest * 3 + 30):
            await asyncio.gather(*(one(i, start + i * spread / n) for i in range(n)))
    except TimeoutError:
        complete = False
    client_busy = meter.busy()
    lateness: list[float] = []
    early = 0
    for reader, offsets, sent in readers:
        reader.close()
        arrivals = reader.arrivals_ns or []
        if len(arrivals) < len(offsets):
            complete = False
        pairs = [
            ((arrived - sent) / 1e6, offset - offsets[0])
            for arrived, offset in zip(arrivals, offsets, strict=False)
        ]
        anchor = min((a - o for a, o in pairs), default=0.0)
        lateness += [a - o - anchor for a, o in pairs]
        early += sum(1 for a, o in pairs if a < o)
    return Outcome(
        p50_ms=h.percentile(lateness, 50),
        p99_ms=h.percentile(lateness, 99),
        early=early,
        samples=len(lateness),
        complete=complete,
        client_busy=client_busy,
    )


async def ingest(port: int, sessions: dict[str, list[float]]) -> None:
    conn = await lc.HttpConn.open(port)
    for name, offsets in sessions.items():
        batch = [
            {"id": f"e{i + 1}", "ts": T0_MS + off, **event(i, len(offsets))}
            for i, off in enumerate(offsets)
        ]
        status, body = await conn.request(
            "POST", f"/v1/sessions/{name}/events", orjson.dumps(batch)
        )
        if status >= 300:
            raise RuntimeError(f"ingest answered {status}: {body!r}")
    await conn.close()


def run_replaydeck(sessions: dict[str, list[float]], p: dict[str, float], work: Path) -> Outcome:
    port = h.free_port()
    env = h.replaydeck_env(work / "replay.db")
    with h.server(h.replaydeck_server_cmd(port), port, env, log=work / "replaydeck.log"):

        async def go() -> Outcome:
            await ingest(port, sessions)
            return await measure(port, "/v1/sessions/{session}/replay?speed=1", sessions, p)

        return lc.run(go())


def sse(envelope: dict[str, object]) -> str:
    body = orjson.dumps(envelope).decode()
    return f"id: {envelope['seq']}\nevent: {envelope['type']}\ndata: {body}\n\n"


def frames_file(sessions: dict[str, list[float]], work: Path) -> Path:
    """The SSE frames of every session with their offsets, for the peers to serve."""
    frames = {
        name: [
            (off, sse(envelope(i + 1, off, len(offsets))))
            for i, off in enumerate(offsets)
        ]
        for name, offsets in sessions.items()
    }  # fmt: skip
    spec = work / "sessions.json"
    spec.write_text(json.dumps(frames))
    return spec


def run_node(sessions: dict[str, list[float]], p: dict[str, float], work: Path) -> Outcome:
    port = h.free_port()
    cmd = h.node_cmd("replay.js", port, str(frames_file(sessions, work)))
    with h.server(cmd, port, log=work / "node.log"):
        return lc.run(measure(port, "/replay/{session}", sessions, p))


def run_baseline(
    sessions: dict[str, list[float]], p: dict[str, float], work: Path
) -> tuple[Outcome, float]:
    port = h.free_port()
    spec = frames_file(sessions, work)
    cmd = [h.PYTHON, str(h.BENCH_DIR / "baseline_replay.py"), str(port), str(spec)]
    with h.server(cmd, port, log=work / "baseline.log"):

        async def go() -> tuple[Outcome, float]:
            outcome = await measure(port, "/replay/{session}", sessions, p)
            conn = await lc.HttpConn.open(port)
            _, body = await conn.request("GET", "/stats")
            server_side = h.percentile(json.loads(body), 99)
            return outcome, server_side

        return lc.run(go())


def shape_rows(shape: str, p: dict[str, float], work: Path) -> list[h.Row]:
    sessions = make_sessions(shape, p)
    work = work / shape
    work.mkdir()
    node = run_node(sessions, p, work)
    bare, bare_server_p99 = run_baseline(sessions, p, work)
    ours = run_replaydeck(sessions, p, work)
    notes = (
        f"{int(p['replays'])} replays, {ours.samples} events; early {ours.early} (Node "
        f"{node.early}); bare call_at p50/p99 {bare.p50_ms:.2f}/{bare.p99_ms:.2f} ms (its own "
        f"timer p99 {bare_server_p99:.2f}); client CPU {ours.client_busy:.0%}"
    )
    if not (ours.complete and node.complete and bare.complete):
        notes += "; INCOMPLETE"
    ok = ours.complete and ours.early == 0
    p99_ratio = h.ratio(ours.p99_ms, node.p99_ms)
    return [
        h.Row("replay timing", f"lateness p50, {shape}", ours.p50_ms, node.p50_ms,
              h.ratio(ours.p50_ms, node.p50_ms), "(reported)", None, "ms", notes),
        h.Row("replay timing", f"lateness p99, {shape}", ours.p99_ms, node.p99_ms, p99_ratio,
              "<= 1.0x Node, none early", ok and p99_ratio <= 1.0, "ms", ""),
    ]  # fmt: skip


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    rows: list[h.Row] = []
    with h.workdir("replay") as work:
        for shape in SHAPES:
            rows += shape_rows(shape, p, work)
    h.report(rows, size=size, record=p["record"])


if __name__ == "__main__":
    main()
