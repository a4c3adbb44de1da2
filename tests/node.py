"""Run a script of one of the npm suites under tests/js/ (official JS client libraries)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.needs import missing


def run_node(suite: Path, package: str, *args: str) -> str:
    """The script's stdout; skipped (failed under CI) without node or the suite's packages."""
    node = shutil.which("node")
    if node is None or not (suite / "node_modules" / package).is_dir():
        missing(f"node and the {package} npm package are needed: run scripts/node-deps")
    done = subprocess.run(
        [str(node), *args], cwd=suite, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
