"""run_all's summary: each measure's median over the repeats, in one table."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench"


@pytest.fixture
def bench_modules(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("harness"), importlib.import_module("summary")


def _run(harness, ours: float, baseline: float, met: bool) -> None:
    rows = [
        harness.Row("fan-out", "b1 delivered/s", ours, baseline, ours / baseline, ">= 1.0x", met),
        harness.Row("idle connections", "KiB a tail", 20.0, 14.0, None, "<= 1.0x", None),
    ]
    harness.keep_for_summary(rows, size="default", stamp="2026-12-03 09:00")


def test_rows_of_three_runs_become_one_line_per_measure_with_medians(
    bench_modules, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, _ = bench_modules
    rows_file = tmp_path / "rows.jsonl"
    monkeypatch.setenv(harness.ROWS_ENV, str(rows_file))
    _run(harness, 900.0, 1000.0, False)
    _run(harness, 1200.0, 1000.0, True)
    _run(harness, 1100.0, 1000.0, True)

    done = subprocess.run(
        [sys.executable, str(BENCH / "summary.py"), str(rows_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "medians of 3 run(s)" in done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("| fan-out")]
    assert lines == [
        "| fan-out | b1 delivered/s | 1,100 | 1,000 | 1.10x | 0.90-1.20x | >= 1.0x | 2 of 3 |"
    ]
    idle = [line for line in done.stdout.splitlines() if line.startswith("| idle")]
    assert idle == ["| idle connections | KiB a tail | 20.0 | 14.0 | - | - | <= 1.0x | - |"]


def test_record_puts_the_newest_summary_above_the_older_sections(
    bench_modules, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, summary = bench_modules
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nIntro.\n\n## Older section\n\ntext\n")
    monkeypatch.setattr(harness, "RESULTS", results)

    summary.record("| table |\n", runs=2, size="default")

    text = results.read_text()
    assert text.startswith("# Benchmark results\n\nIntro.\n\n## Summary (`scripts/bench/run_all`")
    assert text.index("| table |") < text.index("## Older section")
    assert "medians of 2 runs" in text


def test_an_empty_rows_file_is_a_clear_error(tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text("")
    done = subprocess.run(
        [sys.executable, str(BENCH / "summary.py"), str(rows_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "no benchmark rows were collected" in done.stderr
