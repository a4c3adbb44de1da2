"""kill -9 during ingest, and idempotent retries across a kill between commit and response.

A real `replaydeck serve` subprocess on a real SQLite file (and on a fresh
PostgreSQL database) is killed with SIGKILL
while several writers append concurrently. After every restart the writers
first retry what was in flight (same event ids), then write more. At the end:
every acknowledged event is stored at the seq it was acknowledged with, no
event is stored twice, seqs are 1..N per session, and SQLite's
integrity_check says ok.
"""

from __future__ import annotations

import random
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import orjson
import pytest

from tests.reliability.ledger import Ledger, check_log
from tests.reliability.procs import ServerProcess
from tests.reliability.soak import size
from tests.store.pg import pg_template, pg_url, run_sync
from tests.waiting import eventually

__all__ = ["pg_template", "pg_url"]

CYCLES = size(20, 200)
WRITERS = size(4, 8)
SESSIONS = ("crash-a", "crash-b", "crash-c")

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


class Writers:
    def __init__(self, url: str, ledger: Ledger, rng: random.Random, cycle: int) -> None:
        self.url = url
        self.ledger = ledger
        self.rng = rng
        self.cycle = cycle
        self.acked_now = 0

    async def post(
        self, client: httpx.AsyncClient, session_id: str, batch: list[dict[str, Any]]
    ) -> list[int] | None:
        """The seqs of a 2xx, or None when the server died before answering."""
        try:
            response = await client.post(f"/v1/sessions/{session_id}/events", json=batch)
        except httpx.TransportError:
            self.ledger.pending.append((session_id, batch))
            return None
        assert response.status_code == 200, response.text
        seqs: list[int] = response.json()["seqs"]
        self.ledger.ack(session_id, batch, seqs)
        self.acked_now += len(batch)
        return seqs

    async def write(self, writer: int) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            for n in range(10_000):
                session_id = self.rng.choice(SESSIONS)
                batch = [
                    {
                        "id": f"c{self.cycle}-w{writer}-{n}-{k}",
                        "type": "status",
                        "data": {"label": f"c{self.cycle} w{writer} n{n} k{k}"},
                    }
                    for k in range(self.rng.randint(1, 4))
                ]
                if await self.post(client, session_id, batch) is None:
                    return

    async def retry_pending(self) -> None:
        """Resend in-flight batches with the same ids; each must come back acknowledged."""
        pending, self.ledger.pending = self.ledger.pending, []
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            for session_id, batch in pending:
                before = await stored_seqs(client, session_id, [e["id"] for e in batch])
                seqs = await self.post(client, session_id, batch)
                assert seqs is not None, "the restarted server refused a retry"
                if before:
                    # The batch committed before the kill: it is all there, unchanged.
                    assert before == seqs, f"retry moved {session_id} {before} -> {seqs}"
                    self.ledger.committed_unacked += len(batch)
                    self.ledger.retries_with_original_seq += 1


async def stored_seqs(client: httpx.AsyncClient, session_id: str, ids: list[str]) -> list[int]:
    wanted = set(ids)
    found = {e["id"]: e["seq"] for e in await read_log(client, session_id) if e["id"] in wanted}
    assert not found or len(found) == len(ids), "a batch was stored in part"
    return [found[i] for i in ids] if found else []


async def read_log(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/sessions/{session_id}/events", headers={"Accept": "application/x-ndjson"}
    )
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.content.splitlines() if line]


# sessions whose last_seq disagrees with their events (a torn append would show here)
TORN = (
    "SELECT s.id FROM sessions s LEFT JOIN events e ON e.session_id = s.id GROUP BY s.id, "
    "s.last_seq HAVING s.last_seq <> COALESCE(MAX(e.seq), 0) OR s.last_seq <> COUNT(e.seq)"
)


class Sqlite:
    name = "SQLite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite+aiosqlite:///{path}"

    def committed(self, session_id: str, event_id: str) -> bool:
        with sqlite3.connect(self.path, timeout=10) as connection:
            row = connection.execute(
                "SELECT 1 FROM events WHERE session_id = ? AND id = ?", (session_id, event_id)
            ).fetchone()
        return row is not None

    def check_integrity(self) -> None:
        with sqlite3.connect(self.path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert connection.execute(TORN).fetchall() == []


class Postgres:
    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self.url = url
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)

    def fetch(self, query: str, *args: object) -> list[Any]:
        async def run() -> list[Any]:
            connection = await asyncpg.connect(self.dsn)
            try:
                return list(await connection.fetch(query, *args))
            finally:
                await connection.close()

        return run_sync(run())

    def committed(self, session_id: str, event_id: str) -> bool:
        query = "SELECT 1 FROM events WHERE session_id = $1 AND id = $2"
        return bool(self.fetch(query, session_id, event_id))

    def check_integrity(self) -> None:
        assert self.fetch(TORN) == []
        # Every index is usable and consistent with its table.
        assert self.fetch("SELECT 1 FROM pg_index WHERE NOT indisvalid") == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Sqlite | Postgres:
    if request.param == "sqlite":
        return Sqlite(tmp_path / "crash.db")
    return Postgres(request.getfixturevalue("pg_url"))


def send_unread(port: int, session_id: str, event: dict[str, Any]) -> socket.socket:
    """POST over a raw socket whose response the test will never read."""
    body = orjson.dumps(event)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/sessions/%s/events HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (session_id.encode(), len(body), body)
    )
    return sock


@pytest.mark.timeout(900)
async def test_kill_9_during_ingest_loses_no_acknowledged_event(
    database: Sqlite | Postgres, tmp_path: Path
) -> None:
    # The next server starts while the current one takes writes, so a cycle
    # does not wait for Python to import replaydeck; it is another replica on
    # the same database until its turn comes.
    def replica(n: int) -> ServerProcess:
        server = ServerProcess(database.url, tmp_path / f"server-{n}.log")
        server.spawn()
        return server

    ledger = Ledger()
    rng = random.Random(9)
    lost_responses: list[tuple[str, str]] = []
    started = time.monotonic()
    server = replica(0)
    standby: ServerProcess | None = None
    try:
        for cycle in range(CYCLES):
            server.wait_ready()
            standby = replica(cycle + 1)
            writers = Writers(server.url, ledger, rng, cycle)
            await writers.retry_pending()
            async with anyio.create_task_group() as group:
                for writer in range(WRITERS):
                    group.start_soon(writers.write, writer)
                target = rng.randint(5, 60)
                await eventually(lambda: writers.acked_now >= target)  # noqa: B023
                # A commit whose response never reaches the client: wait until the
                # event is in the database, then kill before the client reads a byte.
                event = {"id": f"lost-{cycle}", "type": "status", "data": {"label": f"l{cycle}"}}
                unread = send_unread(server.port, "crash-a", event)
                await eventually(lambda: database.committed("crash-a", event["id"]))  # noqa: B023
                server.kill()
                unread.close()
            ledger.pending.append(("crash-a", [event]))
            lost_responses.append(("crash-a", event["id"]))
            server, standby = standby, None
        server.wait_ready()
        writers = Writers(server.url, ledger, rng, CYCLES)
        await writers.retry_pending()
        async with httpx.AsyncClient(base_url=server.url) as client:
            logs = {s: await read_log(client, s) for s in SESSIONS}
    finally:
        server.stop()
        if standby is not None:
            standby.stop()

    total = check_log(ledger, logs)
    # Every response the test threw away was retried and answered with its original seq.
    assert all(key in ledger.acked for key in lost_responses)
    assert ledger.retries_with_original_seq >= CYCLES
    database.check_integrity()
    print(
        f"\n[crash] {database.name}: {CYCLES} kill -9 cycles, {WRITERS} writers, "
        f"{total} events stored, "
        f"{len(ledger.acked)} acknowledged, 0 lost, 0 duplicates; "
        f"{ledger.committed_unacked} committed-but-unacknowledged events retried with "
        f"their original seq; {time.monotonic() - started:.1f} s"
    )
