"""Scopes as users meet them, the open mode and its limits, start-up and the CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from replaydeck.auth.access import bearer_token
from replaydeck.auth.keys import Scope
from replaydeck.auth.startup import UnsafeBind, bind_problem, check_bind, database_requires_keys
from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.web.app import create_app

pytestmark = pytest.mark.anyio

EVENT = {"type": "status", "data": {"label": "hi"}}


async def make_key(app: FastAPI, scope: Scope) -> dict[str, str]:
    new = await app.state.keys.create(scope)
    return {"Authorization": f"Bearer {new.secret}"}


async def test_ingest_appends_but_cannot_read_and_read_the_reverse(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ingest = await make_key(app, Scope.INGEST)
    read = await make_key(app, Scope.READ)
    appended = await client.post("/v1/sessions/s1/events", json=EVENT, headers=ingest)
    assert appended.status_code == 200
    assert (await client.get("/v1/sessions/s1/events", headers=ingest)).status_code == 403
    assert (await client.get("/v1/sessions/s1/events", headers=read)).status_code == 200
    refused = await client.post("/v1/sessions/s1/events", json=EVENT, headers=read)
    assert refused.status_code == 403
    assert "needs ingest or admin" in refused.json()["detail"]


async def test_admin_does_everything(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await make_key(app, Scope.ADMIN)
    assert (await client.post("/v1/sessions/s1/events", json=EVENT, headers=admin)).is_success
    assert (await client.get("/v1/sessions/s1", headers=admin)).is_success
    assert (await client.post("/v1/sessions/s1/shares", json={}, headers=admin)).is_success
    assert (await client.delete("/v1/sessions/s1", headers=admin)).status_code == 204


async def test_a_revoked_key_stops_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_key(app, Scope.ADMIN)  # keeps the API closed after the revoke
    new = await app.state.keys.create(Scope.READ)
    headers = {"Authorization": f"Bearer {new.secret}"}
    assert (await client.get("/v1/sessions", headers=headers)).status_code == 200
    await app.state.keys.revoke(new.record.id)
    assert (await client.get("/v1/sessions", headers=headers)).status_code == 401


async def test_without_keys_a_loopback_api_is_open(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/sessions/s1/events", json=EVENT)).status_code == 200
    assert (await client.get("/v1/sessions/s1/events")).status_code == 200
    assert (await client.delete("/v1/sessions/s1")).status_code == 204


@pytest.mark.parametrize(("insecure", "status"), [(False, 401), (True, 200)])
async def test_without_keys_a_public_bind_stays_closed_unless_insecure(
    settings: Settings, insecure: bool, status: int
) -> None:
    # Revoking the last key on 0.0.0.0 must close the API, not open it.
    public = Settings(database_url=settings.database_url, host="0.0.0.0", insecure=insecure)
    app = create_app(public)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/v1/sessions")).status_code == status


async def test_public_routes_need_no_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_key(app, Scope.ADMIN)
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("abc", None),
    ],
)
def test_bearer_token(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


async def test_start_up_log_says_the_api_is_open(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="replaydeck"):
        async with app.router.lifespan_context(app):
            pass
    assert any("the API is open" in r.getMessage() for r in caplog.records)
    async with app.router.lifespan_context(app):
        await app.state.keys.revoke((await app.state.keys.create(Scope.READ)).record.id)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="replaydeck"):
        async with app.router.lifespan_context(app):
            pass
    assert any("answers 401 to every request" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("host", "insecure", "has_keys", "refused"),
    [
        ("127.0.0.1", False, False, False),
        ("localhost", False, False, False),
        ("::1", False, False, False),
        ("0.0.0.0", False, False, True),
        ("0.0.0.0", True, False, False),
        ("0.0.0.0", False, True, False),
        ("10.1.2.3", False, False, True),
    ],
)
def test_bind_problem(host: str, insecure: bool, has_keys: bool, refused: bool) -> None:
    settings = Settings(host=host, insecure=insecure)
    problem = bind_problem(settings, has_keys=has_keys)
    assert (problem is not None) == refused
    if problem is not None:
        assert "--insecure" in problem
        assert "replaydeck keys create" in problem


async def test_check_bind_reads_keys_without_creating_the_database(
    tmp_path: Path, settings: Settings
) -> None:
    missing = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/new/x.db", host="0.0.0.0")
    assert not await database_requires_keys(missing)
    assert not (tmp_path / "new" / "x.db").exists()
    with pytest.raises(UnsafeBind, match=r"Refusing to serve on 0\.0\.0\.0"):
        await check_bind(missing)

    public = Settings(database_url=settings.database_url, host="0.0.0.0")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.keys.create(Scope.ADMIN)
    await check_bind(public)  # a key exists: no refusal
    async with app.router.lifespan_context(app):
        for key in await app.state.keys.list():
            await app.state.keys.revoke(key.id)
    await check_bind(public)  # every key revoked: the API stays closed, so no refusal
    with pytest.raises(UnsafeBind):
        await check_bind(public.model_copy(update={"open_without_keys": True}))


def test_serve_refuses_a_public_bind_without_keys(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--database-url", url])
    assert result.exit_code == 1
    assert "Refusing to serve on 0.0.0.0 without API keys" in result.output


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"
    runner = CliRunner()
    created = runner.invoke(
        main, ["keys", "create", "--scope", "read", "--label", "ci", "--database-url", url]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("rdk_")
    assert "shown only once" in created.stderr

    listed = runner.invoke(main, ["keys", "list", "--database-url", url])
    assert listed.exit_code == 0
    row = listed.output.splitlines()[1].split()
    assert (row[1], row[2], row[-1]) == ("read", "active", "ci")
    assert key not in listed.output
    key_id = row[0]

    revoked = runner.invoke(main, ["keys", "revoke", key_id, "--database-url", url])
    assert revoked.exit_code == 0, revoked.output
    as_json = runner.invoke(main, ["keys", "list", "--json", "--database-url", url])
    assert '"revoked_at": null' not in as_json.output

    unknown = runner.invoke(main, ["keys", "revoke", "key_nope", "--database-url", url])
    assert unknown.exit_code == 1
    assert "There is no API key with id 'key_nope'" in unknown.output

    bad_scope = runner.invoke(main, ["keys", "create", "--scope", "root", "--database-url", url])
    assert bad_scope.exit_code == 2


async def test_a_key_made_by_the_cli_works_on_the_api(settings: Settings) -> None:
    args = ["keys", "create", "--scope", "ingest", "--database-url", settings.database_url]
    # The CLI runs its own event loop, so it runs in a thread here.
    result = await anyio.to_thread.run_sync(CliRunner().invoke, main, args)
    assert result.exit_code == 0, result.output
    headers = {"Authorization": f"Bearer {result.stdout.strip()}"}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post("/v1/sessions/s1/events", json=EVENT)).status_code == 401
            ok = await client.post("/v1/sessions/s1/events", json=EVENT, headers=headers)
            assert ok.status_code == 200
