"""Retention: `replaydeck gc` and REPLAYDECK_RETENTION delete old sessions, safely.

Sessions are aged by rewriting their timestamps in the real SQLite file (time
passing, without waiting 30 days). The server-side sweep runs beside open
streams and concurrent appends: streams on a deleted session end cleanly, and
every append acknowledged while the sweep runs is still in the log.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.events import NewEvent
from replaydeck.store.backends import open_store
from replaydeck.store.engine import make_engine
from replaydeck.store.migrate import upgrade
from replaydeck.store.tables import sessions
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve
from tests.store.pg import pg_template, pg_url
from tests.waiting import eventually

__all__ = ["pg_template", "pg_url"]

DAY_US = 86_400 * 1_000_000


def age(settings: Settings, session_id: str, days: float) -> None:
    """Make a session look idle for `days`: its creation and last event move back."""
    path = settings.sqlite_path
    assert path is not None
    then = time.time_ns() // 1000 - int(days * DAY_US)
    with sqlite3.connect(path, timeout=10) as connection:
        connection.execute(
            "UPDATE sessions SET created_at_us = ?, last_ts_us = ? WHERE id = ?",
            (then, then, session_id),
        )


def test_gc_dry_run_lists_then_gc_deletes(server: RunningServer, settings: Settings) -> None:
    with httpx.Client(base_url=server.url) as client:
        for session_id in ("old-1", "old-2", "young"):
            events = [{"type": "status", "data": {"label": str(n)}} for n in range(3)]
            assert client.post(f"/v1/sessions/{session_id}/events", json=events).is_success
        client.post("/v1/sessions", json={"id": "old-empty"})
        for session_id in ("old-1", "old-2", "old-empty"):
            age(settings, session_id, 31)
        age(settings, "young", 29)
        args = ["gc", "--older-than", "30d", "--database-url", settings.database_url]

        result = CliRunner().invoke(main, [*args, "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "Would delete 3 sessions (6 events)" in result.output
        assert client.get("/v1/sessions/old-1").status_code == 200

        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "Deleted 3 sessions (6 events)" in result.output
        for session_id in ("old-1", "old-2", "old-empty"):
            assert client.get(f"/v1/sessions/{session_id}").status_code == 404
        assert client.get("/v1/sessions/young/events").json()["events"][2]["seq"] == 3

        result = CliRunner().invoke(main, args)
        assert "Deleted 0 sessions" in result.output


def test_gc_needs_an_age(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["gc", "--database-url", settings.database_url])
    assert result.exit_code == 2
    assert "pass --older-than 30d or set REPLAYDECK_RETENTION" in result.output
    result = CliRunner().invoke(main, ["gc", "--older-than", "soon"])
    assert result.exit_code == 2
    assert "is not a duration" in result.output


async def follow(client: httpx.AsyncClient, path: str, seen: list[str]) -> None:
    async with client.stream("GET", path) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            seen.append(line)


@pytest.mark.anyio
async def test_server_retention_beside_open_streams_and_appends(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/retention.db",
        retention="30d",
        retention_interval=0.05,
        heartbeat_interval=0.5,
    )
    app = create_app(settings)
    acked: dict[tuple[str, str], int] = {}
    statuses: list[int] = []
    with serve(app) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            for session_id in ("quiet", "busy"):
                await client.post(
                    f"/v1/sessions/{session_id}/events",
                    json={"type": "status", "data": {"label": "x"}},
                )
            tail: list[str] = []
            replay: list[str] = []
            stop = anyio.Event()
            aged = anyio.Event()
            acked_before: dict[tuple[str, str], int] = {}

            async def write(session_id: str) -> None:
                n = 0
                while not stop.is_set():
                    event: dict[str, Any] = {"id": f"{session_id}-{n}", "type": "status"}
                    # Appends acknowledged before the aging are aged with their
                    # session: deleting them is retention doing its job.
                    sent_after_aging = aged.is_set()
                    response = await client.post(
                        f"/v1/sessions/{session_id}/events", json={**event, "data": {"label": "x"}}
                    )
                    statuses.append(response.status_code)
                    if response.is_success:
                        seq = response.json()["seqs"][0]
                        (acked if sent_after_aging else acked_before)[(session_id, event["id"])] = (
                            seq
                        )
                    n += 1

            with anyio.fail_after(60):
                async with anyio.create_task_group() as group:
                    group.start_soon(follow, client, "/v1/sessions/quiet/stream", tail)
                    group.start_soon(follow, client, "/v1/sessions/quiet/replay?speed=max", replay)
                    await eventually(lambda: app.state.streams.total() == 2)
                    for session_id in ("busy", "young"):
                        group.start_soon(write, session_id)
                    await eventually(lambda: len(acked_before) > 20)
                    age(settings, "quiet", 31)
                    age(settings, "busy", 31)  # races with its own writer: either outcome is fine
                    aged.set()
                    # The sweep deletes "quiet"; both of its streams end by themselves.
                    await eventually(lambda: app.state.streams.total() == 0)
                    await eventually(lambda: len(acked) > 100)
                    stop.set()
            assert (await client.get("/v1/sessions/quiet")).status_code == 404
            logs = {
                s: (await client.get(f"/v1/sessions/{s}/events?limit=1000")).json()["events"]
                for s in ("busy", "young")
            }
    assert all(status == 200 for status in statuses), set(statuses)
    stored = {(s, e["id"]): e["seq"] for s, events in logs.items() for e in events}
    lost = [key for key, seq in acked.items() if stored.get(key) != seq]
    assert not lost, f"retention removed acknowledged appends: {lost[:5]}"
    assert any(line.startswith("id: 1") for line in tail)
    assert any(line.startswith("id: 1") for line in replay)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/collect.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.mark.anyio
async def test_collect_beside_concurrent_appends(database_url: str) -> None:
    """Batches of gc race appends to the same old sessions: every acknowledged append stays."""
    engine = make_engine(Settings(database_url=database_url))
    await upgrade(engine)
    store = open_store(engine)
    old = time.time_ns() // 1000 - 31 * DAY_US
    try:
        for n in range(40):
            await store.append(
                f"old-{n}",
                [NewEvent(type="status", data={"label": "x"}, data_json=b'{"label":"x"}')],
            )
        async with engine.begin() as connection:
            await connection.execute(sa.update(sessions).values(created_at_us=old, last_ts_us=old))
        acked: list[tuple[str, str]] = []

        async def append_to_old() -> None:
            for n in range(0, 40, 2):
                event = NewEvent(
                    type="status", data={"label": "y"}, data_json=b'{"label":"y"}', id=f"late-{n}"
                )
                await store.append(f"old-{n}", [event])
                acked.append((f"old-{n}", f"late-{n}"))

        deleted: list[str] = []
        async with anyio.create_task_group() as group:
            group.start_soon(append_to_old)
            report = await store.delete_idle(
                older_than=timedelta(days=30), batch_size=3, on_deleted=deleted.append
            )
        assert report.session_ids == deleted
        for session_id, event_id in acked:
            assert event_id in [e.id for e in await store.read(session_id)], session_id
        for n in range(1, 40, 2):
            assert await store.read(f"old-{n}") == []
        # A session gc deleted before its late append came back with that append alone.
        for session_id in deleted:
            if session_id in dict(acked):
                assert [e.seq for e in await store.read(session_id)] == [1]
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_gc_from_cron_ends_streams_on_every_replica(pg_url: str) -> None:
    """On PostgreSQL, `replaydeck gc` in another process ends the servers' open tails."""
    settings = Settings(database_url=pg_url, heartbeat_interval=0.5)
    with serve(create_app(settings)) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            await client.post(
                "/v1/sessions/cron/events", json={"type": "status", "data": {"label": "x"}}
            )
            old = time.time_ns() // 1000 - 31 * DAY_US
            engine = make_engine(settings)
            async with engine.begin() as connection:
                await connection.execute(
                    sa.update(sessions).values(created_at_us=old, last_ts_us=old)
                )
            await engine.dispose()
            lines: list[str] = []
            with anyio.fail_after(20):
                async with anyio.create_task_group() as group:
                    group.start_soon(follow, client, "/v1/sessions/cron/stream", lines)
                    await eventually(lambda: running.app.state.streams.total() == 1)
                    args = ["gc", "--older-than", "30d", "--database-url", pg_url]
                    result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, args))
                    assert "Deleted 1 sessions" in result.output, result.output
                # The task group ended: the tail closed by itself after the delete.
    assert any(line.startswith("id: 1") for line in lines)
