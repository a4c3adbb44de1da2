"""Benchmark 10, Durable Streams: replaydeck's /ds against the protocol's Node reference
server (@durable-streams/server; in memory, or file-backed with
REPLAYDECK_BENCH_DS_REFERENCE=file).

Measures, each on both servers in the same run, driven by the shared load client:
- append throughput: JSON appends by `writers` connections, each to its own stream;
- live-tail latency: `readers` SSE readers at `offset=now` on one stream while a
  writer appends `messages` stamped with their send time at `rate` a second;
  append-to-receive p50 and p99 over a sample of the readers;
- idle memory per SSE reader: resident memory with `idle` readers open on a quiet
  stream, less the memory before, per reader.

Targets: ahead of the reference server on each.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import loadclient as lc

SIZES = {
    "tiny": {"appends": 200, "writers": 4, "readers": (4, 16), "messages": 10, "rate": 50.0,
             "idle": 50},
    "default": {"appends": 20_000, "writers": 16, "readers": (64, 1000), "messages": 200,
                "rate": 50.0, "idle": 2000},
}  # fmt: skip
SUITE = h.REPO / "tests" / "js" / "durable-streams"
# `file` runs the reference server file-backed (it fsyncs every append); by
# default it keeps its streams in memory, its fastest and its usual test set-up.
REFERENCE_STORAGE = "REPLAYDECK_BENCH_DS_REFERENCE"


class DsReader(lc.SseReader):
    """A Durable Streams SSE reader: counts the stamped messages in `data` events
    (servers may batch several in one) and, sampled, their append-to-receive time.
    Control events count as pings: the first says the reader is caught up."""

    def data_received(self, data: bytes) -> None:
        body = self.body(data)
        if body is None:
            return
        self.buffer += body
        cut = self.buffer.rfind(b"\n\n")
        if cut < 0:
            return
        complete, self.buffer = self.buffer[:cut], self.buffer[cut + 2 :]
        arrived = lc.now_ns()
        self.pings += complete.count(b"event: control") + complete.count(lc.PING_MARK)
        stamps = lc.T_FIELD.findall(complete)
        if self.sample:
            self.latencies_ns.extend(arrived - int(stamp) for stamp in stamps)
        if stamps:
            self.frames += len(stamps)
            if self.on_frames is not None:
                self.on_frames()


@dataclass
class Outcome:
    appends_per_s: float = 0.0
    append_errors: int = 0
    # readers -> (p50 ms, p99 ms, all delivered)
    tails: dict[int, tuple[float, float, bool]] = field(default_factory=dict)
    idle_kib: float = 0.0


def message(text: str) -> bytes:
    return orjson.dumps({"t": lc.now_ns(), "type": "message.delta", "data": {"text": text}})


async def create(port: int, path: str) -> None:
    conn = await lc.HttpConn.open(port)
    status, body = await conn.request("PUT", path)
    await conn.close()
    if status not in (200, 201):
        raise RuntimeError(f"PUT {path} answered {status}: {body[:200]!r}")


async def measure(port: int, pid: int, base: str, p: dict[str, object]) -> Outcome:
    outcome = Outcome()
    writers = int(p["writers"])  # type: ignore[call-overload]
    for k in range(writers):
        await create(port, f"{base}append-{k}")

    def append(i: int) -> tuple[str, str, bytes]:
        return "POST", f"{base}append-{i % writers}", message("x" * 100)

    load = await lc.closed_loop(
        port,
        append,
        count=int(p["appends"]),
        concurrency=writers,
        max_s=20,  # type: ignore[call-overload]
    )
    outcome.appends_per_s, outcome.append_errors = load.rate, load.errors

    for n in p["readers"]:  # type: ignore[attr-defined]
        outcome.tails[n] = await tail(port, f"{base}tail-{n}", n, p)
    outcome.idle_kib = await idle(port, pid, f"{base}idle", int(p["idle"]))  # type: ignore[call-overload]
    return outcome


async def tail(port: int, path: str, n: int, p: dict[str, object]) -> tuple[float, float, bool]:
    await create(port, path)
    readers = await lc.open_sse(
        port, f"{path}?offset=now&live=sse", n, sample_every=max(1, n // 64),
        connect_batch=250, protocol=DsReader,
    )  # fmt: skip
    await wait_caught_up(readers, limit_s=60)
    count = int(p["messages"])  # type: ignore[call-overload]
    try:
        sent = await lc.open_loop(
            port, lambda i: ("POST", path, message(f"m{i}")), count=count,
            rate=float(p["rate"]), connections=1, limit_s=4 * count / float(p["rate"]) + 30,  # type: ignore[arg-type]
        )  # fmt: skip
    except TimeoutError:
        # The server stopped answering appends under this many readers.
        for r in readers:
            r.close()
        return math.nan, math.nan, False
    delivered = await lc.wait_frames(readers, count - sent.errors, limit_s=60)
    for r in readers:
        r.close()
    latencies_ms = [ns / 1e6 for r in readers for ns in r.latencies_ns]
    return h.percentile(latencies_ms, 50), h.percentile(latencies_ms, 99), delivered


async def wait_caught_up(readers: list[lc.SseReader], limit_s: float) -> None:
    """Until every reader has had its first control event (polled, with a deadline)."""
    deadline = time.monotonic() + limit_s
    while not all(r.pings for r in readers):
        if time.monotonic() > deadline:
            raise TimeoutError("some SSE readers never got their first control event")
        await asyncio.sleep(0.05)  # no event to await for "every reader caught up"


async def idle(port: int, pid: int, path: str, n: int) -> float:
    await create(port, path)
    url = f"{path}?offset=now&live=sse"
    warm = await lc.open_sse(port, url, 1, protocol=DsReader)
    await wait_caught_up(warm, limit_s=30)
    before = h.rss_kib(pid)
    readers = await lc.open_sse(port, url, n, connect_batch=250, protocol=DsReader)
    await wait_caught_up(readers, limit_s=120)
    after = h.rss_kib(pid)
    for r in [*warm, *readers]:
        r.close()
    return (after - before) / n


def run(
    cmd: list[str], port: int, base: str, p: dict[str, object], work: Path, name: str,
    env: dict[str, str] | None = None,
) -> Outcome:  # fmt: skip
    with h.server(cmd, port, env, log=work / f"{name}.log") as proc:
        return lc.run(measure(port, proc.pid, base, p))


def rows(ours: Outcome, node: Outcome, p: dict[str, object]) -> list[h.Row]:
    def lower(measure: str, a: float, b: float, unit: str, notes: str = "") -> h.Row:
        if math.isnan(b) and not math.isnan(a):
            # The reference never finished: ahead by default, no ratio to give.
            return h.Row("durable streams", measure, a, None, None, "< 1.0x", True, unit,
                         (notes + "; reference server timed out").lstrip("; "))  # fmt: skip
        r = h.ratio(a, b)
        return h.Row("durable streams", measure, a, b, r, "< 1.0x", r < 1.0, unit, notes)

    appends = h.ratio(ours.appends_per_s, node.appends_per_s)
    out = [
        h.Row("durable streams", f"append requests/s, {p['writers']} writers",
              ours.appends_per_s, node.appends_per_s, appends, "> 1.0x", appends > 1.0, "",
              f"errors {ours.append_errors} / {node.append_errors}"),
    ]  # fmt: skip
    for n in p["readers"]:  # type: ignore[attr-defined]
        (o50, o99, o_all), (n50, n99, n_all) = ours.tails[n], node.tails[n]
        notes = "" if o_all and n_all else "not every message reached every reader in time"
        out.append(lower(f"live-tail p50, {n} SSE readers", o50, n50, "ms", notes))
        out.append(lower(f"live-tail p99, {n} SSE readers", o99, n99, "ms", notes))
    out.append(
        lower("idle memory per SSE reader", ours.idle_kib, node.idle_kib, "KiB",
              f"{p['idle']} readers")
    )  # fmt: skip
    return out


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("durable") as work:
        port = h.free_port()
        node_cmd = [*h.node_cmd("x", port)[:1], str(SUITE / "reference-server.mjs"), str(port)]
        if os.environ.get(REFERENCE_STORAGE) == "file":
            node_cmd.append(str(work / "reference-data"))
        node = run(node_cmd, port, "/v1/stream/", p, work, "reference")
        port = h.free_port()
        # SSE connections last the whole run (the default ends them every 60 s).
        env = h.replaydeck_env(work / "durable.db", ds_sse_max_seconds="3600")
        ours = run(
            h.replaydeck_server_cmd(port), port, "/ds/v1/stream/", p, work, "replaydeck", env
        )
    h.report(rows(ours, node, p), size=size, record=bool(p["record"]))


if __name__ == "__main__":
    main()
