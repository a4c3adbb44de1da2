"""Shared plumbing for the benchmarks: sizes, statistics, processes, RESULTS.md.

Every benchmark command runs replaydeck and its baseline in the same run, on the
same machine, and appends one table row per measure to RESULTS.md. Nothing here
talks to anything but 127.0.0.1, and every wait has a deadline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent.parent
RESULTS = BENCH_DIR / "RESULTS.md"
PYTHON = sys.executable
HOST = "127.0.0.1"

HEADER = (
    "| date (UTC) | benchmark | size | measure | replaydeck | baseline | ratio | target | met "
    "| cores | python | node | notes |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)
INTRO = (
    "# Benchmark results\n\n"
    "Rows are appended by the commands in this folder (`scripts/bench/run_all` or one "
    "`scripts/bench/<name>.py --size default`). The baseline runs in the same "
    "invocation on the same machine; `ratio` is replaydeck / baseline for rates and "
    "baseline-relative for the measures that say so. Tiny-size rows are not kept "
    "(CI runs them only to prove the commands still work).\n\n"
)


# ---------------------------------------------------------------- arguments


def parse_size(
    description: str, sizes: Mapping[str, Mapping[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """`--size tiny|default|…` selects one parameter set; `--no-record` skips RESULTS.md."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", choices=sorted(sizes), default="default")
    parser.add_argument(
        "--record",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="append rows to RESULTS.md (default: yes unless --size tiny)",
    )
    args = parser.parse_args()
    params = dict(sizes[args.size])
    params["record"] = args.record if args.record is not None else args.size != "tiny"
    return args.size, params


# ---------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the value at or below which p% of samples fall."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(ours: float, baseline: float) -> float:
    return ours / baseline if baseline else math.nan


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Row:
    benchmark: str
    measure: str
    ours: float
    baseline: float | None
    ratio: float | None
    target: str
    met: bool | None
    unit: str = ""
    notes: str = ""


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "-"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


def report(rows: Sequence[Row], *, size: str, record: bool) -> None:
    """Print the rows and, for real sizes, append them to RESULTS.md."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    cores = os.cpu_count() or 0
    py = platform.python_version()
    node = node_version()
    lines = []
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        ratio_text = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append(
            f"| {stamp} | {r.benchmark} | {size} | {r.measure} | {fmt(r.ours, r.unit)} "
            f"| {fmt(r.baseline, r.unit)} | {ratio_text} | {r.target} | {met} "
            f"| {cores} | {py} | {node} | {r.notes} |\n"
        )
    sys.stdout.write(HEADER + "".join(lines))
    keep_for_summary(rows, size=size, stamp=stamp)
    if not record:
        return
    if not RESULTS.exists():
        RESULTS.write_text(INTRO + "## Runs\n\n" + HEADER)
    with RESULTS.open("a") as f:
        f.writelines(lines)


# run_all sets this to a file: every row of every benchmark in the run is kept
# there, one JSON object a line, and summary.py prints medians across repeats.
ROWS_ENV = "REPLAYDECK_BENCH_ROWS"


def keep_for_summary(rows: Sequence[Row], *, size: str, stamp: str) -> None:
    path = os.environ.get(ROWS_ENV)
    if not path:
        return
    with open(path, "a") as f:
        for r in rows:
            f.write(json.dumps({**asdict(r), "size": size, "stamp": stamp}, allow_nan=True) + "\n")


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # polling a port that is not open yet: nothing to wait on
    raise TimeoutError(f"nothing listened on {HOST}:{port} within {timeout}s")


@contextmanager
def server(
    cmd: Sequence[str], port: int, env: Mapping[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process for the duration of the block; it is always stopped."""
    full_env = {**os.environ, **(env or {})}
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(list(cmd), env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        wait_for_port(port, proc)
        yield proc
    except BaseException:
        if log:  # the server's side of the story, before the work dir goes away
            out.flush()  # type: ignore[union-attr]
            sys.stderr.write(f"--- {log.name} (last lines)\n")
            sys.stderr.write("\n".join(log.read_text(errors="replace").splitlines()[-40:]) + "\n")
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if log:
            out.close()  # type: ignore[union-attr]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (the psutil-free way)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"replaydeck-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def replaydeck_server_cmd(port: int) -> list[str]:
    """uvicorn on uvloop + httptools, one process, access log off."""
    return [PYTHON, str(BENCH_DIR / "serve_app.py"), "--port", str(port)]


# The load client opens every stream from one address, as no real client would.
UNLIMITED_STREAMS = {"REPLAYDECK_MAX_STREAMS_PER_CLIENT": "0"}


def replaydeck_env(db: Path, **extra: str) -> dict[str, str]:
    env = {"REPLAYDECK_DATABASE_URL": f"sqlite+aiosqlite:///{db}", **UNLIMITED_STREAMS}
    env.update({f"REPLAYDECK_{k.upper()}": v for k, v in extra.items()})
    return env


def node_cmd(script: str, port: int, *args: str) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH; the Node baselines need it (apt install nodejs)")
    return [node, str(BENCH_DIR / "node" / script), str(port), *args]


# ---------------------------------------------------------------- events


def event_payload(i: int, size: int = 200) -> dict[str, Any]:
    """A message.delta whose serialized envelope is about `size` bytes."""
    return {"type": "message.delta", "id": f"e{i}", "data": {"text": "x" * max(1, size - 120)}}
