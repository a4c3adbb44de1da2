"""Benchmark 2, HTTP ingest: POST /v1/sessions/{id}/events vs a bare FastAPI endpoint.

Both servers run as one uvicorn process (uvloop, httptools) and get the same
requests from the same client:

- batched: `batch` events a request, `concurrency` connections, closed loop;
- single: one event a request, `concurrency` connections, closed loop: the peak;
- paced: one event a request at 70% of that server's single-event peak, open
  loop (latency from each request's scheduled time): p50/p99;
- shared: one event a request, `concurrency` connections, all into one session
  (the producers of one agent run), closed loop.

Requests go round-robin over `sessions` sessions, as many live LLM sessions
would, except in the shared shape. Baseline: bare_app.py, which validates the same JSON and stores
nothing. Targets: single-event >= 0.50x the baseline; p99 <= 10 ms at 70% of peak.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import loadclient as lc

SIZES = {
    "tiny": {"batches": 10, "batch": 100, "singles": 200, "paced": 100, "concurrency": 8,
             "sessions": 8},
    "default": {"batches": 300, "batch": 100, "singles": 20_000, "paced": 6_000,
                "concurrency": 32, "sessions": 32},
}  # fmt: skip


@dataclass
class Outcome:
    batched_events_per_s: float
    single_per_s: float
    shared_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    client_busy: float


def single(
    i: int, sessions: int, offset: int = 0, prefix: str = "ingest"
) -> tuple[str, str, bytes]:
    body = orjson.dumps(h.event_payload(offset + i))
    return "POST", f"/v1/sessions/{prefix}-{i % sessions}/events", body


def batched(i: int, batch: int, sessions: int) -> tuple[str, str, bytes]:
    body = orjson.dumps([h.event_payload(1_000_000 + i * batch + k) for k in range(batch)])
    return "POST", f"/v1/sessions/batch-{i % sessions}/events", body


async def measure(port: int, p: dict[str, Any]) -> Outcome:
    s, conc = p["sessions"], p["concurrency"]
    batch = await lc.closed_loop(
        port, lambda i: batched(i, p["batch"], s), count=p["batches"], concurrency=4
    )
    peak = await lc.closed_loop(
        port, lambda i: single(i, s), count=p["singles"], concurrency=conc, max_s=20
    )
    paced = await lc.open_loop(
        port,
        lambda i: single(i, s, offset=p["singles"]),
        count=p["paced"],
        rate=0.7 * peak.rate,
        connections=conc * 2,
        max_s=15,
    )
    shared = await lc.closed_loop(
        port,
        lambda i: single(i, 1, offset=2_000_000, prefix="shared"),
        count=p["singles"],
        concurrency=conc,
        max_s=20,
    )
    return Outcome(
        batched_events_per_s=batch.rate * p["batch"],
        single_per_s=peak.rate,
        shared_per_s=shared.rate,
        p50_ms=h.percentile(paced.latencies_s, 50) * 1000,
        p99_ms=h.percentile(paced.latencies_s, 99) * 1000,
        errors=batch.errors + peak.errors + paced.errors + shared.errors,
        client_busy=max(peak.client_busy, paced.client_busy),
    )


def run_replaydeck(p: dict[str, Any], work: Path, **settings: str) -> Outcome:
    port = h.free_port()
    env = h.replaydeck_env(work / "ingest.db", **settings)
    with h.server(h.replaydeck_server_cmd(port), port, env, log=work / "replaydeck.log"):
        return lc.run(measure(port, p))


def run_bare(p: dict[str, Any], work: Path) -> Outcome:
    port = h.free_port()
    cmd = [h.PYTHON, str(h.BENCH_DIR / "bare_app.py"), str(port)]
    with h.server(cmd, port, log=work / "bare.log"):
        return lc.run(measure(port, p))


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("ingest") as work:
        bare = run_bare(p, work)
        ours = run_replaydeck(p, work)
    single_ratio = h.ratio(ours.single_per_s, bare.single_per_s)
    batch_ratio = h.ratio(ours.batched_events_per_s, bare.batched_events_per_s)
    notes = (
        f"{p['concurrency']} connections, {p['sessions']} sessions; "
        f"client CPU {ours.client_busy:.0%}"
    )
    if ours.errors or bare.errors:
        notes += f"; ERRORS {ours.errors}/{bare.errors}"
    h.report(
        [
            h.Row("HTTP ingest", f"batched events/s ({p['batch']}/request)",
                  ours.batched_events_per_s, bare.batched_events_per_s, batch_ratio,
                  "(reported)", None, "ev/s", notes),
            h.Row("HTTP ingest", "single-event requests/s", ours.single_per_s,
                  bare.single_per_s, single_ratio, ">= 0.50x",
                  single_ratio >= 0.5 and not ours.errors, "req/s", ""),
            h.Row("HTTP ingest", "single-event requests/s, one shared session",
                  ours.shared_per_s, bare.shared_per_s,
                  h.ratio(ours.shared_per_s, bare.shared_per_s), ">= 0.50x",
                  h.ratio(ours.shared_per_s, bare.shared_per_s) >= 0.5 and not ours.errors,
                  "req/s", f"{p['concurrency']} connections into one session"),
            h.Row("HTTP ingest", "single-event p99 at 70% of peak", ours.p99_ms, bare.p99_ms,
                  None, "<= 10 ms", ours.p99_ms <= 10, "ms",
                  f"p50 {ours.p50_ms:.2f}/{bare.p50_ms:.2f} ms"),
        ],
        size=size,
        record=p["record"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
