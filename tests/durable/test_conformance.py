"""The official Durable Streams server conformance suite against a real replaydeck."""

from __future__ import annotations

from pathlib import Path

import pytest

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.durable.conformance import LONG_POLL_S, run_suite
from tests.servers import serve
from tests.store.pg import pg_template, pg_url

__all__ = ["pg_template", "pg_url"]


def _conformance(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, ds_long_poll_timeout=LONG_POLL_S)
    with serve(create_app(settings)) as server:
        counts = run_suite(server.url + "/ds", tmp_path / "report.json")
    print(f"Durable Streams conformance on {database_url.split(':')[0]}: {counts}")
    assert counts.passed > 300
    assert counts.failures == [], "\n".join(counts.failures)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_conformance_on_sqlite(tmp_path: Path) -> None:
    _conformance(f"sqlite+aiosqlite:///{tmp_path}/replaydeck.db", tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_conformance_on_postgres(pg_url: str, tmp_path: Path) -> None:
    _conformance(pg_url, tmp_path)
