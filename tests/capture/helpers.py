"""Real servers for the capture tests: uvicorn on a given socket, the Node SSE app, and
waiting with a deadline instead of sleeping."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import wait_until

NODE_APP = Path(__file__).parent / "node_app" / "server.js"


def reserve_port() -> socket.socket:
    """A bound, not yet listening socket: connections to it are refused until a server
    starts on it, which is exactly a store that is down and comes back on the same port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_asgi(app: Any, sock: socket.socket | None = None, **config: Any) -> Iterator[str]:
    """Any ASGI app on a real uvicorn in a thread; yields its base URL."""
    sock = sock or reserve_port()
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, **config)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=20)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def replaydeck_on(sock: socket.socket, settings: Settings) -> Iterator[str]:
    with serve_asgi(create_app(settings), sock) as url:
        yield url


@contextmanager
def node_app(script: Path = NODE_APP) -> Iterator[str]:
    """A Node.js app that prints `{"port": N}` once it listens (the SSE app by default)
    on a free port; yields its base URL."""
    process = subprocess.Popen(
        ["node", str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PORT": "0"},
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "the Node app did not print its port within 20 s"
        port = json.loads(process.stdout.readline())["port"]
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def recorded(store: str, session_id: str) -> list[dict[str, Any]]:
    """The session's events once it is complete (waiting with a deadline)."""

    def complete() -> bool:
        return httpx.get(f"{store}/v1/sessions/{session_id}").json().get("status") == "complete"

    wait_until(complete, timeout=10)
    events: list[dict[str, Any]] = httpx.get(f"{store}/v1/sessions/{session_id}/events").json()[
        "events"
    ]
    return events
