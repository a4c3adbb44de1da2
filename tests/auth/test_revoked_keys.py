"""Once a key has existed, revoking every key closes the API; only the operator re-opens it."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve
from tests.store.pg import pg_template, pg_url
from tests.waiting import wait_until

__all__ = ["pg_template", "pg_url"]

EVENT = {"type": "status", "data": {"label": "hi"}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The conftest's `app` and `server` on each backend (SQLite answers through its probe)."""
    if request.param == "postgres":
        return Settings(database_url=request.getfixturevalue("pg_url"))
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/replaydeck.db")


def keys_cli(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(main, ["keys", *args, "--database-url", settings.database_url])
    assert result.exit_code == 0, result.output
    return result.stdout


def only_key_id(settings: Settings) -> str:
    listed = keys_cli(settings, "list", "--json")
    return str(orjson.loads(listed.splitlines()[0])["id"])


def statuses(http: httpx.Client, headers: dict[str, str]) -> tuple[int, int, int]:
    """A write, a read and a delete, as the given caller."""
    write = http.post("/v1/sessions/s1/events", json=EVENT, headers=headers)
    read = http.get("/v1/sessions/s1/events", headers=headers)
    delete = http.delete("/v1/sessions/s1", headers=headers)
    return write.status_code, read.status_code, delete.status_code


def test_revoking_every_key_closes_a_loopback_api(
    server: RunningServer, settings: Settings
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/v1/sessions/s1/events", json=EVENT).status_code == 200  # open
        key = keys_cli(settings, "create", "--scope", "admin").strip()
        admin = {"Authorization": f"Bearer {key}"}
        assert http.get("/v1/sessions/s1", headers=admin).status_code == 200
        revoked = keys_cli(settings, "revoke", only_key_id(settings))
        assert "No active key is left" in revoked

        # The CLI is another process: the server notices within REPLAYDECK_KEY_CACHE_SECONDS.
        wait_until(lambda: http.get("/v1/sessions", headers=admin).status_code == 401)
        assert statuses(http, admin) == (401, 401, 401)
        assert statuses(http, {}) == (401, 401, 401)
        refused = http.get("/v1/sessions/s1/stream", headers=admin)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert "revoked" in refused.json()["detail"]

        # A new key works, and nothing was deleted meanwhile.
        read_key = keys_cli(settings, "create", "--scope", "read").strip()
        fresh = {"Authorization": f"Bearer {read_key}"}
        assert http.get("/v1/sessions/s1", headers=fresh).json()["last_seq"] == 1


def test_the_operator_can_reopen_it_explicitly(server: RunningServer, settings: Settings) -> None:
    keys_cli(settings, "create", "--scope", "admin")
    keys_cli(settings, "revoke", only_key_id(settings))
    reopened: FastAPI = create_app(settings.model_copy(update={"open_without_keys": True}))
    with serve(reopened) as running, httpx.Client(base_url=running.url, timeout=10) as http:
        assert statuses(http, {}) == (200, 200, 204)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        wait_until(lambda: http.get("/v1/sessions").status_code == 401)
