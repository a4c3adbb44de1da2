"""One table for a whole `run_all`: each measure's median over the repeats.

`run_all` points every benchmark at one rows file (harness.ROWS_ENV); this reads
it back, groups the rows by benchmark and measure in the order they first ran,
and prints one line per measure: the medians of replaydeck's figure, the
same-run baseline and their ratio, the spread of the ratio, and in how many runs
the target was met. A median of ratios (not a ratio of medians) is shown
because each ratio is taken within one run, against a peer that saw the same
machine; that is the figure the targets are about. With `--record` the table is
also put at the top of RESULTS.md, newest first.

Usage: summary.py ROWS_FILE [--record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

TABLE_HEADER = (
    "| benchmark | measure | replaydeck | same-run baseline | ratio (median) | ratio range "
    "| target | met |\n|---|---|---|---|---|---|---|---|\n"
)


def _median(values: list[float]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return h.median(kept) if kept else None


Groups = dict[tuple[str, str], list[dict[str, Any]]]


def group(rows: list[dict[str, Any]]) -> Groups:
    """Rows by (benchmark, measure), in the order each measure first ran."""
    groups: Groups = {}
    for row in rows:
        groups.setdefault((row["benchmark"], row["measure"]), []).append(row)
    return groups


def summarize(groups: Groups) -> str:
    """The markdown table: one line per measure."""
    lines = []
    for (benchmark, measure), runs in groups.items():
        unit = runs[0]["unit"]
        ratios = [r["ratio"] for r in runs if r["ratio"] is not None and not math.isnan(r["ratio"])]
        ratio = _median(ratios)
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}x" if len(ratios) > 1 else "-"
        judged = [r["met"] for r in runs if r["met"] is not None]
        met = f"{sum(judged)} of {len(judged)}" if judged else "-"
        lines.append(
            f"| {benchmark} | {measure} | {h.fmt(_median([r['ours'] for r in runs]), unit)} "
            f"| {h.fmt(_median([r['baseline'] for r in runs if r['baseline'] is not None]), unit)} "
            f"| {'-' if ratio is None else f'{ratio:.2f}x'} | {spread} | {runs[0]['target']} "
            f"| {met} |\n"
        )
    return TABLE_HEADER + "".join(lines)


def record(table: str, runs: int, size: str) -> None:
    """Put the table above the newest section of RESULTS.md (after the intro)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    section = (
        f"## Summary (`scripts/bench/run_all`, {stamp} UTC, size {size}, "
        f"medians of {runs} runs)\n\n{table}\n"
    )
    text = h.RESULTS.read_text() if h.RESULTS.exists() else h.INTRO + "## Runs\n\n" + h.HEADER
    intro, sep, sections = text.partition("\n## ")
    if not sep:
        h.RESULTS.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    h.RESULTS.write_text(intro.rstrip("\n") + "\n\n" + section + "## " + sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=Path, help="the rows file run_all collected")
    parser.add_argument("--record", action="store_true", help="also write it into RESULTS.md")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    if not rows:
        sys.exit("no benchmark rows were collected: every benchmark failed before reporting")
    groups = group(rows)
    runs = max(len(runs) for runs in groups.values())
    table = summarize(groups)
    sys.stdout.write(f"\nSummary: medians of {runs} run(s) of each benchmark\n\n{table}")
    if args.record:
        record(table, runs, rows[0]["size"])


if __name__ == "__main__":
    main()
