"""Stalled readers of a big session: bounded memory per client, whatever the session's size.

Clients connect, send their request and never read, on every kind of stream that
reads the log out (live tail, replay at speed=max, their share-link twins, an
NDJSON download), against a real `python -m replaydeck serve` holding a session of
tens of megabytes. Each stream stops where the socket's buffers fill, holding what
it read from the log, until the send timeout drops it. The server's RSS, sampled
from the first connection until every stream is gone, may grow only by a small
constant per client: a page of the log of about 1 MiB (two for a replay, which
reads one ahead) and a write of 64 KiB, not the session, nor a whole page of it.
Besides that per-client cost the server warms up once: the database connections
that serve the concurrent reads (up to the pool's size) fill their page caches.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tests.reliability.procs import ServerProcess
from tests.reliability.soak import size
from tests.waiting import wait_until

SESSION_MB = size(32, 100)
EVENT_BYTES = 100_000
BATCH = 40  # 4 MB a request, under the 8 MiB request limit
SEND_TIMEOUT = 3.0
# The stated bounds (README, Guarantees): what one stalled stream may cost the
# server, beyond a fixed cost for the read connections' caches and threads.
PER_STREAM_MB = 3
FIXED_MB = 32


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def active_streams(client: httpx.Client) -> int:
    text = client.get("/metrics").text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("replaydeck_active_streams{")
    )


def stall(port: int, path: str, accept: str = "text/event-stream") -> socket.socket:
    """Connect, ask, and never read: the server's sends block once buffers fill."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\n\r\n".encode())
    return sock


def test_stalled_readers_of_a_big_session_cost_a_bounded_amount_each(tmp_path: Path) -> None:
    server = ServerProcess(
        f"sqlite+aiosqlite:///{tmp_path}/big.db",
        tmp_path / "server.log",
        REPLAYDECK_SEND_TIMEOUT=str(SEND_TIMEOUT),
        REPLAYDECK_HEARTBEAT_INTERVAL="1",
    )
    server.start()
    stalled: list[socket.socket] = []
    try:
        assert server.process is not None
        pid = server.process.pid
        with httpx.Client(base_url=server.url, timeout=60) as client:
            events = SESSION_MB * 1_000_000 // EVENT_BYTES
            for start in range(0, events, BATCH):
                batch = [
                    {"type": "status", "data": {"label": f"{n:06d}" + "x" * EVENT_BYTES}}
                    for n in range(start, min(events, start + BATCH))
                ]
                response = client.post("/v1/sessions/big/events", json=batch)
                assert response.status_code == 200, response.text
            shared = client.post("/v1/sessions/big/shares", json={})
            assert shared.status_code == 201, shared.text
            token = "/r/" + shared.json()["url"].rsplit("/r/", 1)[1]
            paths = [
                ("/v1/sessions/big/stream", "text/event-stream"),
                ("/v1/sessions/big/replay?speed=max", "text/event-stream"),
                (f"{token}/stream", "text/event-stream"),
                (f"{token}/replay?speed=max", "text/event-stream"),
                ("/v1/sessions/big/events", "application/x-ndjson"),
                (f"{token}/events", "application/x-ndjson"),
            ] * 2
            before = rss_mb(pid)
            peak = before
            stalled = [stall(server.port, path, accept) for path, accept in paths]
            wait_until(lambda: active_streams(client) == len(paths), timeout=30)
            # Sample from the first connection until the send timeout has dropped
            # them all: the peak is what the stalled clients cost at worst.
            deadline = time.monotonic() + SEND_TIMEOUT * 10
            while active_streams(client) > 0:
                peak = max(peak, rss_mb(pid))
                assert time.monotonic() < deadline, "stalled streams were not dropped"
            peak = max(peak, rss_mb(pid))
            # Still serving everyone else.
            assert client.get("/readyz").status_code == 200
    finally:
        for sock in stalled:
            sock.close()
        server.stop()
    growth = peak - before
    bound = FIXED_MB + len(paths) * PER_STREAM_MB
    assert growth < bound, growth
    print(
        f"\n[stalled readers] {len(paths)} stalled streams on a {SESSION_MB} MB session: "
        f"RSS +{growth:.1f} MB at peak, {growth / len(paths):.2f} MB a stream "
        f"(bound {FIXED_MB} MB + {PER_STREAM_MB} MB a stream = {bound} MB)"
    )
