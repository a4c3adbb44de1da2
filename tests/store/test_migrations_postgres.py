"""`replaydeck db upgrade` on PostgreSQL: the one Alembic history, dialect types."""

from __future__ import annotations

import asyncpg
import pytest
from alembic import command
from click.testing import CliRunner

from replaydeck.cli import main
from replaydeck.live.pg_notify import listen_dsn
from replaydeck.store.migrate import alembic_config
from tests.store.pg import pg_empty_url, run_sync

pytestmark = pytest.mark.postgres
__all__ = ["pg_empty_url"]


async def _columns(url: str) -> dict[tuple[str, str], str]:
    connection = await asyncpg.connect(listen_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
        version = await connection.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await connection.close()
    columns = {(r["table_name"], r["column_name"]): r["data_type"] for r in rows}
    columns[("alembic_version", "*")] = version
    return columns


def test_db_upgrade_builds_the_schema_with_postgres_types(pg_empty_url: str) -> None:
    runner = CliRunner()
    for _ in range(2):  # the second run finds nothing to do
        result = runner.invoke(main, ["db", "upgrade", "--database-url", pg_empty_url])
        assert result.exit_code == 0, result.output
        assert "is up to date" in result.output
    columns = run_sync(_columns(pg_empty_url))
    assert columns[("alembic_version", "*")] == "0003"
    assert columns[("sessions", "metadata")] == "jsonb"
    assert columns[("ds_streams", "closed")] == "boolean"
    assert columns[("ds_streams", "fork_seq")] == "bigint"
    assert columns[("events", "seq")] == "bigint"
    assert columns[("events", "envelope")] == "bytea"
    assert columns[("sessions", "last_seq")] == "bigint"


def test_0002_downgrades_to_portable_json(pg_empty_url: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url", pg_empty_url])
    assert result.exit_code == 0, result.output
    command.downgrade(alembic_config(pg_empty_url), "0001")
    assert run_sync(_columns(pg_empty_url))[("sessions", "metadata")] == "json"


def test_0003_downgrades_without_the_stream_table(pg_empty_url: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--database-url", pg_empty_url])
    assert result.exit_code == 0, result.output
    command.downgrade(alembic_config(pg_empty_url), "0002")
    columns = run_sync(_columns(pg_empty_url))
    assert columns[("alembic_version", "*")] == "0002"
    assert not [table for table, _ in columns if table == "ds_streams"]
