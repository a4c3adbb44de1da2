"""Benchmark: the first-event latency that the recording proxy adds.

A Node.js SSE app (tests/capture/node_app/server.js, node:http) answers GET /first
with one event at once. Each round opens a fresh TCP connection, sends the request and
stops the clock when the first `data:` line arrives: straight to the app (baseline),
and through `replaydeck proxy` recording into a real replaydeck server (ours). Rounds
alternate between the two so that machine noise hits both alike. Target: the median
added latency is under 5 ms (issue 6).
"""

from __future__ import annotations

import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

SIZES = {
    "tiny": {"rounds": 20, "warmup": 5},
    "default": {"rounds": 400, "warmup": 40},
}
NODE_APP = h.REPO / "tests" / "capture" / "node_app" / "server.js"
REQUEST = b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def first_event_ms(port: int) -> float:
    t0 = time.perf_counter()
    with socket.create_connection((h.HOST, port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(REQUEST)
        seen = b""
        while b"data:" not in seen:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"port {port} closed before the first event: {seen[:200]!r}")
            seen += chunk
    return (time.perf_counter() - t0) * 1000


def run(p: dict[str, Any], work: Path) -> tuple[list[float], list[float]]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH (apt install nodejs)")
    app_port, store_port, proxy_port = h.free_port(), h.free_port(), h.free_port()
    store = f"http://{h.HOST}:{store_port}"
    proxy_cmd = [
        h.PYTHON, "-c", "from app.capture.cli import proxy; proxy()",
        "--upstream", f"http://{h.HOST}:{app_port}", "--port", str(proxy_port),
        "--store", store,
    ]  # fmt: skip
    with (
        h.server([node, str(NODE_APP)], app_port, env={"PORT": str(app_port)}),
        h.server(
            h.replaydeck_server_cmd(store_port),
            store_port,
            env=h.replaydeck_env(work / "bench.db"),
        ),
        h.server(proxy_cmd, proxy_port, log=work / "proxy.log"),
    ):
        for _ in range(int(p["warmup"])):
            first_event_ms(app_port)
            first_event_ms(proxy_port)
        direct: list[float] = []
        proxied: list[float] = []
        for _ in range(int(p["rounds"])):
            direct.append(first_event_ms(app_port))
            proxied.append(first_event_ms(proxy_port))
    return proxied, direct


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("proxy") as work:
        proxied, direct = run(p, work)
    ours, base = h.median(proxied), h.median(direct)
    added = ours - base
    added_p95 = h.percentile(proxied, 95) - h.percentile(direct, 95)
    rows = [
        h.Row(
            benchmark="proxy",
            measure="time to first event (median)",
            ours=ours,
            baseline=base,
            ratio=None,
            target="< 5 ms added",
            met=added < 5.0,
            unit="ms",
            notes=f"added {added:.2f} ms median, {added_p95:.2f} ms p95; "
            f"{len(proxied)} rounds, fresh connection each",
        )
    ]
    h.report(rows, size=size, record=p["record"])


if __name__ == "__main__":
    main()
