"""Replicas as real processes: `python -m replaydeck serve` on one PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.needs import missing

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ("15", "main")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _wait_ready(replica: Replica, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if replica.process.poll() is not None:
            raise RuntimeError(f"replica exited early:\n{replica.output()}")
        try:
            if httpx.get(f"{replica.url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"replica not ready within {timeout} s:\n{replica.output()}")
        time.sleep(0.02)  # ok: polls readiness under a deadline


@contextmanager
def replicas(database_url: str, logs: Path, count: int = 2, **env: str) -> Iterator[list[Replica]]:
    """Start `count` replicas at once; all are stopped when the block ends."""
    with ExitStack() as stack:
        started: list[Replica] = []
        for n in range(count):
            port = free_port()
            log = logs / f"replica-{n}.log"
            out = stack.enter_context(log.open("wb"))
            process = subprocess.Popen(
                [sys.executable, "-m", "replaydeck", "serve", "--port", str(port)],
                cwd=ROOT,
                env={
                    **os.environ,
                    "REPLAYDECK_DATABASE_URL": database_url,
                    **{f"REPLAYDECK_{k.upper()}": v for k, v in env.items()},
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, process)
            started.append(Replica(f"http://127.0.0.1:{port}", process, log))
        for replica in started:
            _wait_ready(replica, timeout=30)
        yield started


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ---------------------------------------------------------------- the server itself


def _pg_ctlcluster(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, action, "-m", "fast"]
        if action in ("restart", "stop")
        else ["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, action],
        capture_output=True,
        text=True,
        timeout=60,
    )


def require_cluster_control() -> None:
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        message = (
            "restarting PostgreSQL needs Debian's pg_ctlcluster run as root; "
            "run this test where the server is local (as in CI)"
        )
        missing(message)


def pg_is_up() -> bool:
    return (
        subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], timeout=10).returncode
        == 0
    )


def restart_postgres() -> None:
    result = _pg_ctlcluster("restart")
    if result.returncode != 0:
        raise RuntimeError(f"pg_ctlcluster restart failed: {result.stderr or result.stdout}")


@contextmanager
def postgres_comes_back() -> Iterator[None]:
    """Whatever happens inside, PostgreSQL is running again afterwards."""
    try:
        yield
    finally:
        if not pg_is_up():
            _pg_ctlcluster("start")
        deadline = time.monotonic() + 30
        while not pg_is_up():
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not come back within 30 s")
            time.sleep(0.1)  # ok: polls readiness under a deadline
