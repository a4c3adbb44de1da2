"""Benchmark 7, tracing overhead: ingest with OTLP export to a local receiver vs export off.

The same replaydeck server is run twice on fresh databases: once with
OTEL_EXPORTER_OTLP_ENDPOINT pointing at otlp_sink.py (OTLP/HTTP protobuf, a
receiver that only counts), once with no endpoint. `connections` producers each
record whole sessions one event per request (status, tool.call, tool.result,
five message.delta, final), so spans start, end and are exported during the
run. Events/s with export / without. Target: >= 0.90x, and the receiver must
actually have received spans.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import loadclient as lc

SIZES = {
    "tiny": {"connections": 4, "sessions": 3, "rounds": 1},
    "default": {"connections": 16, "sessions": 60, "rounds": 3},
}


def session_events(name: str) -> list[dict[str, Any]]:
    call = {"name": "web.search", "call_id": f"{name}-c1"}
    events: list[dict[str, Any]] = [
        {"type": "status", "data": {"label": "thinking"}},
        {"type": "tool.call", "data": {**call, "args": {"q": "sse"}}},
        {"type": "tool.result", "data": {**call, "result": {"hits": 3}}},
    ]
    events += [
        {"type": "message.delta", "data": {"text": f"part {k} ", "message_id": "m1"}}
        for k in range(5)
    ]
    events.append({"type": "final", "data": {"usage": {"input_tokens": 10, "output_tokens": 5}}})
    return events


@dataclass
class Outcome:
    events_per_s: float
    errors: int


async def load(port: int, p: dict[str, Any], tag: str) -> Outcome:
    errors = 0
    sent = 0

    async def producer(j: int) -> None:
        nonlocal errors, sent
        conn = await lc.HttpConn.open(port)
        for s in range(p["sessions"]):
            name = f"{tag}-{j}-{s}"
            for event in session_events(name):
                status, _ = await conn.request(
                    "POST", f"/v1/sessions/{name}/events", orjson.dumps(event)
                )
                errors += status >= 300
                sent += 1
        await conn.close()

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with asyncio.timeout(300):
        await asyncio.gather(*(producer(j) for j in range(p["connections"])))
    return Outcome(sent / (loop.time() - t0), errors)


async def sink_requests(port: int) -> int:
    conn = await lc.HttpConn.open(port)
    _, body = await conn.request("GET", "/stats")
    await conn.close()
    count: int = orjson.loads(body)["requests"]
    return count


def run(p: dict[str, Any], work: Path, export: bool, round_: int) -> tuple[Outcome, int]:
    port, sink_port = h.free_port(), h.free_port()
    env = h.replaydeck_env(work / f"tracing-{export}-{round_}.db")
    if export:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        env["OTEL_BSP_SCHEDULE_DELAY"] = "200"
    sink_cmd = [h.PYTHON, str(h.BENCH_DIR / "otlp_sink.py"), str(sink_port)]
    with (
        h.server(sink_cmd, sink_port, log=work / "sink.log"),
        h.server(h.replaydeck_server_cmd(port), port, env, log=work / "replaydeck.log"),
    ):

        async def go() -> tuple[Outcome, int]:
            outcome = await load(port, p, f"r{round_}")
            # The batch processor exports on its own schedule: wait for it, bounded.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (10 if export else 0)
            received = await sink_requests(sink_port)
            while received == 0 and loop.time() < deadline:
                await asyncio.sleep(0.2)  # polling the receiver's counter, with a deadline
                received = await sink_requests(sink_port)
            return outcome, received

        return lc.run(go())


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    on: list[float] = []
    off: list[float] = []
    received = errors = 0
    with h.workdir("tracing") as work:
        for r in range(p["rounds"]):
            (o_off, _), (o_on, got) = run(p, work, False, r), run(p, work, True, r)
            off.append(o_off.events_per_s)
            on.append(o_on.events_per_s)
            received += got
            errors += o_off.errors + o_on.errors
    ratio = h.ratio(h.median(on), h.median(off))
    notes = (
        f"{p['connections']} producers x {p['sessions']} sessions x 9 events; "
        f"receiver got {received} export requests"
    )
    if errors:
        notes += f"; ERRORS {errors}"
    h.report(
        [h.Row("tracing overhead", "events/s, export on vs off", h.median(on), h.median(off),
               ratio, ">= 0.90x, spans received", ratio >= 0.9 and received > 0 and not errors,
               "ev/s", notes)],
        size=size,
        record=p["record"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
