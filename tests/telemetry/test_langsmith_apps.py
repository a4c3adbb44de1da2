"""Apps configured by environment variables alone, in their own processes.

A Python LangGraph app and a LangGraph.js app, each with LANGSMITH_TRACING,
LANGSMITH_ENDPOINT and LANGSMITH_API_KEY set and not a line about replaydeck, record
one session per run into a real uvicorn, with an ingest key.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from replaydeck.config import Settings
from tests.needs import missing
from tests.servers import RunningServer
from tests.telemetry import langgraph_agent as agent
from tests.telemetry.sessions import only_session
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js" / "langchain"


def create_key(settings: Settings, scope: str) -> str:
    """A key made as an operator makes one."""
    made = subprocess.run(
        [sys.executable, "-m", "replaydeck", "keys", "create", "--scope", scope,
         "--database-url", settings.database_url],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return made.stdout.strip()


@pytest.fixture
def keys(settings: Settings, server: RunningServer) -> tuple[str, str]:
    """An ingest key for the app and a read key for the test; keys are required now."""
    made = create_key(settings, "ingest"), create_key(settings, "read")
    wait_until(lambda: httpx.get(f"{server.url}/langsmith/info").status_code == 401, timeout=10)
    return made


def environment(server: RunningServer, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    env.update(
        LANGSMITH_TRACING="true",
        LANGSMITH_ENDPOINT=f"{server.url}/langsmith",
        LANGSMITH_API_KEY=key,
    )
    return env


def run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    # Neither SDK complained: no fallback, no failed upload, no compression warning.
    assert "Failed" not in done.stderr, done.stderr
    assert "not enabled" not in done.stderr, done.stderr
    assert "fetch failed" not in done.stderr, done.stderr


def assert_app_turn(events: list[dict[str, Any]]) -> None:
    kinds = [e["type"] for e in events]
    assert kinds[0] == "user.message"
    assert events[0]["data"]["text"] == agent.QUESTION
    assert kinds[-1] == "final"
    call = next(e for e in events if e["type"] == "tool.call")
    result = next(e for e in events if e["type"] == "tool.result")
    assert call["data"] == {
        "name": "get_weather",
        "args": {"city": "Paris"},
        "call_id": "call_weather_1",
    }
    assert result["data"]["result"] == "Sunny in Paris"
    assert result["data"]["duration_ms"] >= agent.TOOL_PAUSE_S * 1000
    deltas = [e for e in events if e["type"] == "message.delta"]
    text = "".join(d["data"]["text"] for d in deltas)
    assert text.split() == (agent.FIRST + " " + agent.ANSWER).split()
    assert events[-1]["data"]["usage"] == {
        "input_tokens": 42,
        "output_tokens": 15,
        "total_tokens": 57,
    }


def test_a_python_langgraph_app_records_by_environment_alone(
    server: RunningServer, keys: tuple[str, str]
) -> None:
    ingest_key, read_key = keys
    script = Path(agent.__file__)
    run([sys.executable, str(script)], environment(server, ingest_key), ROOT)
    session, events = only_session(server.url, read_key)
    assert session["status"] == "complete"
    # The Python tracer keeps the first token's time: the rest is spread to the end.
    timings = {e["data"]["timing"] for e in events if e["type"] == "message.delta"}
    assert timings == {"estimated"}
    assert_app_turn(events)


def test_a_langgraph_js_app_records_by_environment_alone(
    server: RunningServer, keys: tuple[str, str]
) -> None:
    ingest_key, read_key = keys
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "langsmith").is_dir():
        missing("Node and tests/js/langchain's packages are needed: run scripts/node-deps")
    env = environment(server, ingest_key)
    # What serverless apps set: the root run's end waits for its upload to finish.
    env["LANGCHAIN_CALLBACKS_BACKGROUND"] = "false"
    pauses = [str(int(agent.TOKEN_PAUSE_S * 1000)), str(int(agent.TOOL_PAUSE_S * 1000))]
    run([node, "agent.mjs", agent.QUESTION, agent.FIRST, agent.ANSWER, *pauses], env, JS)
    session, events = only_session(server.url, read_key)
    assert session["status"] == "complete"
    assert_app_turn(events)
    # The JS tracer keeps every token's time: one delta per streamed token, at its time.
    deltas = [e for e in events if e["type"] == "message.delta"]
    assert len(deltas) == len(agent.FIRST.split()) + len(agent.ANSWER.split())
    answer = [e["offset_ms"] for e in deltas[-len(agent.ANSWER.split()) :]]
    gaps = [b - a for a, b in itertools.pairwise(answer)]
    assert min(gaps) >= agent.TOKEN_PAUSE_S * 1000 * 0.9, gaps
