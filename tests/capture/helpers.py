"""Real servers for the capture tests: replaydeck on a chosen socket, and waiting with a
deadline instead of sleeping."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio
import uvicorn

from app.config import Settings
from app.main import create_app
from tests.servers import wait_until


def reserve_port() -> socket.socket:
    """A bound, not yet listening socket: connections to it are refused until a server
    starts on it, which is exactly a store that is down and comes back on the same port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def replaydeck_on(sock: socket.socket, settings: Settings) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout=20)
        assert server.started, "replaydeck did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def eventually(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait for `condition()` with a deadline, yielding to the loop between checks.

    Polling, because the conditions are counters and states owned by other tasks or by
    a server thread, with no event to wait on."""
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.005)
