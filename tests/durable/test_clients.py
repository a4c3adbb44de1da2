"""The official clients write and tail a stream through replaydeck, across a restart.

The server is stopped while a reader is tailing and started again on the same
port and database; the reader's own client reconnects and resumes from its offset.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from durable_streams import AsyncDurableStream, astream

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.durable.conformance import SUITE
from tests.needs import missing
from tests.servers import serve
from tests.waiting import eventually, wait_until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _settings(tmp_path: Path, sse_max_seconds: float = 0.5) -> Settings:
    # Live reads end on their own (a long-poll answers 204, an SSE connection
    # ends cleanly) before the test server's 1 s graceful shutdown gives up on
    # them: a stopping server then cuts no response in the middle, and the clients
    # reconnect as the protocol has them do every ~60 s.
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/replaydeck.db",
        ds_long_poll_timeout=0.5,
        ds_sse_max_seconds=sse_max_seconds,
    )


def _delta(i: int) -> dict[str, Any]:
    return {"type": "message.delta", "data": {"text": f"t{i}"}}


@pytest.mark.anyio
async def test_python_client_tails_through_a_restart(tmp_path: Path) -> None:
    # Long-poll: in SSE mode the Python client (0.1.0) reads one connection and
    # stops when the server ends it; it does not reconnect from the last offset.
    live = "long-poll"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/ds/v1/stream/py-{live}"
    items: list[Any] = []

    async def retry(error: Exception) -> dict[str, Any]:
        # The client's own retry hook; a short pause keeps it from spinning
        # while the server is down.
        await anyio.sleep(0.05)
        return {}

    async def tail() -> None:
        async with astream(url, offset="-1", live=live, on_error=retry) as response:
            async for item in response.iter_json():
                items.append(item)
                if len(items) == 6:
                    return

    async with anyio.create_task_group() as tasks:
        with serve(create_app(_settings(tmp_path)), port=port):
            writer = await AsyncDurableStream.create(url, content_type="application/json")
            for i in range(3):
                await writer.append(_delta(i))
            await writer.aclose()
            tasks.start_soon(tail)
            await eventually(lambda: len(items) == 3, within=20)
        with serve(create_app(_settings(tmp_path)), port=port) as server:
            writer = AsyncDurableStream(url, content_type="application/json")
            for i in range(3, 6):
                await writer.append(_delta(i))
            await writer.aclose()
            await eventually(lambda: len(items) == 6, within=30)
            events = await _session_events(server.url, f"py-{live}")
    assert items == [_delta(i) for i in range(6)]
    # Recorded as typed events of the session, in order.
    assert [(e["type"], e["data"]["text"]) for e in events] == [
        ("message.delta", f"t{i}") for i in range(6)
    ]


@pytest.mark.anyio
async def test_python_client_tails_with_sse(tmp_path: Path) -> None:
    items: list[Any] = []
    with serve(create_app(_settings(tmp_path, sse_max_seconds=60))) as server:
        url = f"{server.url}/ds/v1/stream/py-sse"
        writer = await AsyncDurableStream.create(url, content_type="application/json")
        await writer.append(_delta(0))

        async def tail() -> None:
            async with astream(url, offset="-1", live="sse") as response:
                async for item in response.iter_json():
                    items.append(item)
                    if len(items) == 3:
                        return

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(tail)
            await eventually(lambda: len(items) == 1, within=20)
            await writer.append(_delta(1))
            await writer.append(_delta(2))
        await writer.aclose()
    assert items == [_delta(i) for i in range(3)]


async def _session_events(base: str, session_id: str) -> list[dict[str, Any]]:
    import httpx

    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.get(f"/v1/sessions/{session_id}/events")
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (SUITE / "node_modules" / "@durable-streams" / "client").is_dir():
        missing("Node.js and tests/js/durable-streams/node_modules are needed (scripts/node-deps)")
    return node


@pytest.mark.parametrize("live", ["long-poll", "sse"])
def test_typescript_client_tails_through_a_restart(tmp_path: Path, live: str) -> None:
    node = _node()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/ds/v1/stream/ts-{live}"

    def write(*args: str) -> None:
        done = subprocess.run(
            [node, "client.mjs", "write", url, *args],
            cwd=SUITE,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "written"

    lines: list[str] = []
    errors = tmp_path / "tail.err"
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            [node, "client.mjs", "tail", url, "6", live],
            cwd=SUITE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as tail,
    ):
        try:
            assert tail.stdout is not None
            reader = threading.Thread(target=lambda: lines.extend(tail.stdout), daemon=True)
            with serve(create_app(_settings(tmp_path)), port=port):
                write("0", "3", "0")
                reader.start()
                wait_until(lambda: len(lines) == 3, timeout=20)
            with serve(create_app(_settings(tmp_path)), port=port):
                # A restarted producer takes the next epoch and closes the stream.
                write("3", "6", "1", "close")
                assert tail.wait(timeout=30) == 0, errors.read_text()
        finally:
            if tail.poll() is None:
                tail.kill()
        reader.join(timeout=5)
    assert [json.loads(line) for line in lines] == [_delta(i) for i in range(6)]
