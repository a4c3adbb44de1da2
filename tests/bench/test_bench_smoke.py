"""Every benchmark command still runs, end to end, at its tiny size.

Benchmarks are not tests: nothing here checks a speed. Each command starts its
real servers (replaydeck on uvicorn, the Node and raw-asyncio baselines) on
127.0.0.1, drives them with the shared load client and must print a result row
for every measure it owns, without writing to RESULTS.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.needs import missing
from tests.store.pg import require_postgres

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench"
COMMANDS = {
    "append.py": ["append"],
    "ingest.py": ["HTTP ingest"] * 4,
    "fanout.py": ["fan-out"] * 12,  # two measures in each of six workload shapes
    "idle.py": ["idle connections"],
    "replay_timing.py": ["replay timing"] * 4,
    "catchup.py": ["catch-up"],
    "tracing.py": ["tracing overhead"],
    "bench_proxy.py": ["proxy"] * 2,
    "bench_replicas.py": ["replicas"],
    "durable.py": ["durable streams"] * 6,
}
NEEDS_NODE = {"fanout.py", "idle.py", "replay_timing.py", "bench_proxy.py", "durable.py"}
NEEDS_POSTGRES = {"bench_replicas.py"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(name, marks=pytest.mark.postgres) if name in NEEDS_POSTGRES else name
        for name in sorted(COMMANDS)
    ],
)
def test_benchmark_runs_at_tiny_size(command: str) -> None:
    if command in NEEDS_POSTGRES:
        require_postgres()  # skips, or fails under CI, without PostgreSQL
    if command in NEEDS_NODE and shutil.which("node") is None:
        missing("the Node baseline needs node on PATH (install nodejs)")
    results = BENCH / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    done = subprocess.run(
        [sys.executable, str(BENCH / command), "--size", "tiny"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 20")]
    assert [row.split(" | ")[1] for row in rows] == COMMANDS[command], done.stdout
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4] not in ("", "-"), f"no replaydeck figure in {row}"
        assert "INCOMPLETE" not in row, row
        assert "ERRORS" not in row, row
    after = results.read_bytes() if results.exists() else None
    assert after == before, "a tiny run must not write to RESULTS.md"
