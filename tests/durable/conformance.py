"""Running the official Durable Streams conformance suite (tests/js/durable-streams)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.needs import missing

SUITE = Path(__file__).parents[1] / "js" / "durable-streams"
# The suite's long-poll tests wait this long for a timeout answer; the server is
# started with the same timeout (REPLAYDECK_DS_LONG_POLL_TIMEOUT), shorter than
# the default 20 s so the run stays short.
LONG_POLL_S = 2.0


@dataclass
class Counts:
    passed: int
    failed: int
    skipped: int
    failures: list[str]

    def __str__(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def run_suite(base_url: str, report: Path) -> Counts:
    npx = shutil.which("npx")
    if npx is None or not (SUITE / "node_modules" / "vitest").is_dir():
        missing("Node.js and tests/js/durable-streams/node_modules are needed (scripts/node-deps)")
    env = {
        **os.environ,
        "DS_BASE_URL": base_url,
        "DS_LONG_POLL_TIMEOUT_MS": str(int(LONG_POLL_S * 1000)),
    }
    subprocess.run(
        [npx, "vitest", "run", "--reporter=json", f"--outputFile={report}"],
        cwd=SUITE,
        env=env,
        capture_output=True,
        timeout=900,
        check=False,
    )
    result = json.loads(report.read_text())
    failures = [
        test["fullName"]
        for suite in result["testResults"]
        for test in suite["assertionResults"]
        if test["status"] == "failed"
    ]
    return Counts(
        passed=result["numPassedTests"],
        failed=result["numFailedTests"],
        skipped=result["numPendingTests"] + result["numTodoTests"],
        failures=failures,
    )
