"""A real uvicorn on a free port, in a thread, for streaming tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from tests.waiting import wait_until


@dataclass
class RunningServer:
    app: FastAPI
    url: str
    port: int
    server: uvicorn.Server


@contextmanager
def serve(app: FastAPI, port: int = 0, **config: object) -> Iterator[RunningServer]:
    """`port` 0 takes a free one; a given port lets a test restart a server where
    its clients reconnect."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, **config)  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=20)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        yield RunningServer(app=app, url=f"http://127.0.0.1:{port}", port=port, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
