"""Vanished and stalled clients: 500 tails that reset or stop reading.

Half the clients reset their connection; the other half stop reading while
the session keeps growing, so the server's sends block. Within the send
timeout every stream is gone: the active stream count, the server's asyncio
tasks, hub subscriptions and checked-out database connections are back to
their baseline, and the process's memory grew by less than a stated bound.

The listening socket gets a small SO_SNDBUF (accepted sockets inherit it), so
a stalled client blocks the server after ~100 KB instead of the ~4 MB that
Linux's autotuning would allow; that keeps kernel memory small in CI without
changing the code path.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.reliability.soak import size
from tests.servers import wait_until

CLIENTS = size(500, 2000)
SEND_TIMEOUT = 2.0
# Stated bound on the process's growth while 500 streams are open and stalled.
MEMORY_BOUND_MB = 150


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@contextmanager
def serve_small_buffers(app: FastAPI) -> Iterator[tuple[int, uvicorn.Server]]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", backlog=CLIENTS * 2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=20)
        yield sock.getsockname()[1], server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def server_tasks(server: uvicorn.Server) -> int:
    loop = server.servers[0].get_loop()

    async def count() -> int:
        return len(asyncio.all_tasks())

    return asyncio.run_coroutine_threadsafe(count(), loop).result(timeout=10) - 1


def open_tail(port: int, *, stall: bool) -> socket.socket:
    sock = socket.socket()
    if stall:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /v1/sessions/crowd/stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
    return sock


def test_vanished_and_stalled_clients_release_everything(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/clients.db",
        send_timeout=SEND_TIMEOUT,
        heartbeat_interval=0.5,
        # 500 clients that all come from 127.0.0.1.
        max_streams_per_client=CLIENTS,
    )
    app = create_app(settings)
    with (
        serve_small_buffers(app) as (port, server),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        client.post("/v1/sessions/crowd/events", json={"type": "status", "data": {"label": "0"}})
        streams = app.state.streams
        pool = app.state.store.engine.pool
        baseline = (streams.total(), server_tasks(server), pool.checkedout())
        rss_before = rss_mb()
        resetting = [open_tail(port, stall=False) for _ in range(CLIENTS // 2)]
        stalled = [open_tail(port, stall=True) for _ in range(CLIENTS - CLIENTS // 2)]
        wait_until(lambda: streams.total() == CLIENTS, timeout=60)
        for sock in resetting:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        # DESIGN.md: a client that disconnects stops all server work for it within a second.
        wait_until(lambda: streams.total() == len(stalled), timeout=1.0)
        # Enough data that every stalled client's buffers fill and the send blocks.
        for n in range(20):
            response = client.post(
                "/v1/sessions/crowd/events",
                json={"type": "status", "data": {"label": f"{n}" + "x" * 16_000}},
            )
            assert response.status_code == 200
        appended = time.monotonic()
        peak = rss_mb()
        wait_until(lambda: streams.total() == 0, timeout=SEND_TIMEOUT * 10)
        released = time.monotonic() - appended
        peak = max(peak, rss_mb())
        wait_until(
            lambda: (streams.total(), server_tasks(server), pool.checkedout()) == baseline,
            timeout=SEND_TIMEOUT,
        )
        assert app.state.hub.subscriber_count == 0
        # The server is still healthy for everyone else.
        assert client.get("/readyz").status_code == 200
        for sock in stalled:
            sock.close()
    growth = peak - rss_before
    assert released < SEND_TIMEOUT * 3, released
    assert growth < MEMORY_BOUND_MB, growth
    print(
        f"\n[clients] {CLIENTS} tails ({CLIENTS // 2} reset, {CLIENTS - CLIENTS // 2} stalled): "
        f"all released {released:.1f} s after the last append (send timeout {SEND_TIMEOUT} s); "
        f"tasks, hub subscribers and DB connections back to baseline; RSS growth "
        f"{growth:.0f} MB (bound {MEMORY_BOUND_MB} MB)"
    )
