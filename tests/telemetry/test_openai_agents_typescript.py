"""The TypeScript Agents SDK (@openai/agents) records a run with its own exporter.

Node runs tests/js/openai-agents/run.mjs: a real agent on a fake Chat Completions
endpoint, exporting with `OpenAITracingExporter({endpoint, apiKey})` to the server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import httpx
import pytest

from replaydeck.auth.keys import Scope
from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.keys import create_keys
from tests.needs import missing
from tests.servers import serve
from tests.telemetry.recorded_run import ANSWER, check_recorded_run, read_events

pytestmark = pytest.mark.anyio

SUITE = Path(__file__).resolve().parents[1] / "js" / "openai-agents"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        missing("node is not installed (apt-get install nodejs npm)")
    if not (SUITE / "node_modules" / "@openai" / "agents").is_dir():
        missing("@openai/agents is not installed: run scripts/node-deps")
    return node


async def _run(node: str, endpoint: str, key: str, group: str | None = None) -> dict[str, str]:
    command = [node, "run.mjs", endpoint, key, *([group] if group else [])]
    with anyio.fail_after(60):
        done = await anyio.run_process(command, cwd=SUITE, check=False)
    assert done.returncode == 0, done.stderr.decode()
    output: dict[str, str] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert output["finalOutput"] == ANSWER
    return output


async def test_a_typescript_agent_run_becomes_one_complete_session(tmp_path: Path) -> None:
    node = _node()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/agents.db")
    with serve(create_app(settings)) as running:
        ingest_key, reader = await create_keys(settings, Scope.INGEST, Scope.READ)
        endpoint = f"{running.url}/v1/traces/ingest"
        ran = await _run(node, endpoint, ingest_key.secret)
        read = {"authorization": f"Bearer {reader.secret}"}
        async with httpx.AsyncClient(base_url=running.url, headers=read, timeout=10) as client:
            await check_recorded_run(client, ran["traceId"])


async def test_two_typescript_runs_of_one_group_share_a_session(tmp_path: Path) -> None:
    node = _node()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/agents.db")
    with serve(create_app(settings)) as running:
        endpoint = f"{running.url}/v1/traces/ingest"
        first = await _run(node, endpoint, "any-key-on-an-open-server", "thread-7")
        second = await _run(node, endpoint, "any-key-on-an-open-server", "thread-7")
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            events = await read_events(client, "thread-7")
            session = (await client.get("/v1/sessions/thread-7")).json()
    assert session["status"] == "open"
    assert session["metadata"]["group_id"] == "thread-7"
    ends = [e for e in events if e["type"] == "trace.end"]
    assert [e["data"]["trace_id"] for e in ends] == [first["traceId"], second["traceId"]]
    assert all(e["data"]["usage"]["input_tokens"] == 42 for e in ends)
    assert "final" not in {e["type"] for e in events}
    types = [e["type"] for e in events]
    assert types.count("tool.call") == types.count("tool.result") == 2
    assert types.count("user.message") == 2
    # The second run follows the first: its question comes after the first trace's end.
    assert types.index("trace.end") < len(types) - 1 - types[::-1].index("user.message")
