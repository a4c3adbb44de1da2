"""Benchmark: the first-event latency that the recording proxy adds.

A Node.js SSE app (tests/capture/node_app/server.js, node:http) answers GET /first
with one event at once. Each round opens a fresh TCP connection, sends the request and
stops the clock when the first `data:` line arrives: straight to the app (baseline),
and through `replaydeck proxy` recording into a real replaydeck server (ours). Rounds
alternate between the two so that machine noise hits both alike.

Two measures. "isolated": before the next round, wait until the store holds the
previous round's recording, so each first event is timed on its own; this is the
issue's target (median added latency under 5 ms). "back-to-back": no waiting, so the
earlier sessions' uploads to the store run in the proxy while it relays (about one
new session every few ms); reported, no target.
"""

from __future__ import annotations

import re
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import httpx

SIZES = {
    "tiny": {"rounds": 20, "warmup": 5},
    "default": {"rounds": 400, "warmup": 40},
}
NODE_APP = h.REPO / "tests" / "capture" / "node_app" / "server.js"
REQUEST = b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def first_event(port: int) -> tuple[float, str | None]:
    """Milliseconds to the first event, and the session id the proxy gave it (if any)."""
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
    elapsed = (time.perf_counter() - t0) * 1000
    match = re.search(rb"(?i)\r\nx-replaydeck-session: ([^\r]+)\r\n", seen)
    return elapsed, match.group(1).decode() if match else None


def wait_recorded(store: str, session_id: str | None) -> None:
    """Until the store holds the whole session (its final), with a deadline."""
    assert session_id is not None, "the proxy gave no X-Replaydeck-Session header"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = httpx.get(f"{store}/v1/sessions/{session_id}").json()
        if body.get("status") == "complete":
            return
        time.sleep(0.002)  # polling the store: there is nothing to wait on
    raise TimeoutError(f"session {session_id} was not recorded within 10 s")


def rounds(
    n: int, app_port: int, proxy_port: int, store: str | None
) -> tuple[list[float], list[float]]:
    direct: list[float] = []
    proxied: list[float] = []
    for _ in range(n):
        direct.append(first_event(app_port)[0])
        elapsed, session_id = first_event(proxy_port)
        proxied.append(elapsed)
        if store is not None:
            wait_recorded(store, session_id)
    return proxied, direct


Samples = dict[str, tuple[list[float], list[float]]]


def run(p: dict[str, Any], work: Path) -> Samples:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH (apt install nodejs)")
    app_port, store_port, proxy_port = h.free_port(), h.free_port(), h.free_port()
    store = f"http://{h.HOST}:{store_port}"
    proxy_cmd = [
        h.PYTHON, "-c", "from replaydeck.cli.proxy import proxy; proxy()",
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
        rounds(int(p["warmup"]), app_port, proxy_port, store)
        return {
            "isolated": rounds(int(p["rounds"]), app_port, proxy_port, store),
            "back-to-back": rounds(int(p["rounds"]), app_port, proxy_port, None),
        }


def main() -> None:
    size, p = h.parse_size(__doc__ or "", SIZES)
    with h.workdir("proxy") as work:
        samples = run(p, work)
    rows = []
    for name, (proxied, direct) in samples.items():
        ours, base = h.median(proxied), h.median(direct)
        added = ours - base
        added_p95 = h.percentile(proxied, 95) - h.percentile(direct, 95)
        isolated = name == "isolated"
        rows.append(
            h.Row(
                benchmark="proxy",
                measure=f"time to first event, {name} (median)",
                ours=ours,
                baseline=base,
                ratio=None,
                target="< 5 ms added" if isolated else "-",
                met=added < 5.0 if isolated else None,
                unit="ms",
                notes=f"added {added:.2f} ms median, {added_p95:.2f} ms p95; "
                f"{len(proxied)} rounds, fresh connection each",
            )
        )
    h.report(rows, size=size, record=p["record"])


if __name__ == "__main__":
    main()
