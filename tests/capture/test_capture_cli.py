"""`replaydeck proxy` as a user runs it: a separate process in front of the Node app."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from replaydeck.cli import main
from replaydeck.formats.sse import parse_all
from tests.capture.helpers import node_app
from tests.servers import RunningServer, wait_until


@pytest.fixture
def node() -> Iterator[str]:
    with node_app() as url:
        yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_the_proxy_command_records_a_session_that_replays_identically(
    node: str, server: RunningServer
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "replaydeck", "proxy", "--upstream", node, "--port", str(port),
               "--store", server.url]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: accepts(port) or process.poll() is not None, timeout=30)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        url = f"http://127.0.0.1:{port}/sample?file=vercel_ai.sse"
        with httpx.stream("GET", url, timeout=5) as response:
            session_id = response.headers["x-replaydeck-session"]
            seen = parse_all(response.read())
        status = f"{server.url}/v1/sessions/{session_id}"
        wait_until(lambda: httpx.get(status).json().get("status") == "complete", timeout=10)
        replay = httpx.get(
            f"{status}/replay", params={"speed": "max", "format": "vercel-ai"}, timeout=10
        )
        assert [(f.event, f.data) for f in parse_all(replay.content)] == [
            (f.event, f.data) for f in seen
        ]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def test_an_upstream_that_is_not_a_url_is_refused() -> None:
    result = CliRunner().invoke(main, ["proxy", "--upstream", "localhost:3000"])
    assert result.exit_code == 2
    assert "give a URL such as http://127.0.0.1:3000" in result.output
