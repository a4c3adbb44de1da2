"""Share links end to end: create, open under /r/, refuse every bad token alike, revoke."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from httpx_sse import connect_sse

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.errors import SessionNotFound
from replaydeck.share.service import SECRET_FILE, ShareNotFound, ShareService
from replaydeck.share.tokens import ShareClaims, sign
from replaydeck.store.backends import open_store
from replaydeck.store.engine import make_engine
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve, wait_until
from tests.store.pg import pg_template, pg_url

pytestmark = pytest.mark.anyio
__all__ = ["pg_template", "pg_url"]

EVENTS: list[dict[str, Any]] = [
    {"type": "status", "data": {"label": "searching"}, "ts": "2026-11-23T10:00:00Z"},
    {
        "type": "tool.call",
        "data": {"name": "web.search", "args": {"q": "sse"}, "call_id": "c1"},
        "ts": "2026-11-23T10:00:00.100Z",
    },
    {
        "type": "tool.result",
        "data": {"name": "web.search", "call_id": "c1", "result": ["a"]},
        "ts": "2026-11-23T10:00:00.300Z",
    },
    {"type": "message.delta", "data": {"text": "Hello"}, "ts": "2026-11-23T10:00:00.400Z"},
    {"type": "final", "data": {}, "ts": "2026-11-23T10:00:00.500Z"},
]


async def record(client: httpx.AsyncClient, session_id: str) -> None:
    response = await client.post(f"/v1/sessions/{session_id}/events", json=EVENTS)
    assert response.status_code == 200, response.text


async def share(client: httpx.AsyncClient, session_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/sessions/{session_id}/shares", json=body or None)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def token_of(created: dict[str, Any]) -> str:
    return str(created["url"]).rsplit("/r/", 1)[1]


def assert_share_headers(response: httpx.Response) -> None:
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_create_returns_id_url_and_expiry(client: httpx.AsyncClient) -> None:
    await record(client, "s1")
    created = await share(client, "s1", expires_in=3600)
    assert set(created) == {"id", "session_id", "url", "expires_at"}
    assert created["url"].startswith("http://testserver/r/")
    assert created["session_id"] == "s1"
    expires = time.mktime(time.strptime(created["expires_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(expires - time.timezone - (time.time() + 3600)) < 120


async def test_default_expiry_is_seven_days(client: httpx.AsyncClient) -> None:
    await record(client, "s1")
    created = await share(client, "s1")
    expires = time.mktime(time.strptime(created["expires_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(expires - time.timezone - (time.time() + 7 * 86400)) < 120


async def test_share_of_unknown_session_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/sessions/nope/shares", json={"expires_in": 3600})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "nope" in response.json()["detail"]


@pytest.mark.parametrize("expires_in", [0, 59, 366 * 86400, "soon"])
async def test_bad_expiry_is_422_with_a_sentence(
    client: httpx.AsyncClient, expires_in: object
) -> None:
    await record(client, "s1")
    response = await client.post("/v1/sessions/s1/shares", json={"expires_in": expires_in})
    assert response.status_code == 422
    assert "expires_in" in response.json()["detail"]


async def test_public_url_sets_the_base(settings: Settings) -> None:
    app = create_app(
        Settings(database_url=settings.database_url, public_url="https://replays.example.com")
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://internal") as client:
            await record(client, "s1")
            created = await share(client, "s1")
    assert created["url"].startswith("https://replays.example.com/r/")


async def test_the_token_opens_page_session_and_events(client: httpx.AsyncClient) -> None:
    await record(client, "s1")
    token = token_of(await share(client, "s1"))

    page = await client.get(f"/r/{token}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"/r/{token}" in page.text
    assert_share_headers(page)

    session = await client.get(f"/r/{token}/session")
    assert session.status_code == 200
    assert_share_headers(session)
    body = session.json()
    direct = (await client.get("/v1/sessions/s1")).json()
    assert {k: v for k, v in body.items() if k != "links"} == {
        k: v for k, v in direct.items() if k != "links"
    }
    assert body["links"]["events"] == f"/r/{token}/events"

    events = await client.get(f"/r/{token}/events", params={"after": 1, "limit": 2})
    assert_share_headers(events)
    assert events.content == (await client.get("/v1/sessions/s1/events?after=1&limit=2")).content

    trace = await client.get("/v1/sessions/s1/trace")
    assert trace.status_code == 200
    assert token not in trace.text


async def test_share_routes_are_read_only(client: httpx.AsyncClient) -> None:
    await record(client, "s1")
    token = token_of(await share(client, "s1"))
    for method, path in [
        ("POST", f"/r/{token}/events"),
        ("DELETE", f"/r/{token}/session"),
        ("DELETE", f"/r/{token}"),
        ("PUT", f"/r/{token}/session"),
    ]:
        response = await client.request(method, path, json=[{"type": "status", "data": {}}])
        assert response.status_code == 405, (method, path)
    events = (await client.get("/v1/sessions/s1/events")).json()["events"]
    assert len(events) == len(EVENTS)


async def bad_tokens(client: httpx.AsyncClient, app: FastAPI) -> dict[str, str]:
    """One token of each kind that must not work, keyed by what is wrong with it."""
    await record(client, "mine")
    await record(client, "theirs")
    good = token_of(await share(client, "mine"))
    theirs = await share(client, "theirs")
    revoked = await share(client, "mine")
    assert (await client.delete(f"/v1/shares/{revoked['id']}")).status_code == 204
    doomed = await share(client, "theirs")
    assert (await client.delete("/v1/sessions/theirs")).status_code == 204

    service: ShareService = app.state.shares
    an_hour_ago = time.time_ns() // 1000 - 3_600_000_000
    past = ShareService(service.engine, service.key, clock=lambda: an_hour_ago)
    expired = await past.create("mine", expires_in=60)
    # A token for my session that names another session's share: the signature
    # is valid (made with the real key), the table must still refuse it.
    their_share_row = theirs["id"]
    cross = sign(ShareClaims("mine", their_share_row, int(time.time()) + 3600), service.key)
    payload, signature = good.split(".")
    return {
        "tampered payload": payload[:-2]
        + ("AA" if payload[-2:] != "AA" else "BB")
        + "."
        + signature,
        "tampered signature": payload + "." + signature[::-1],
        "wrong key": sign(ShareClaims("mine", "sh_x", int(time.time()) + 3600), b"x" * 32),
        "expired": expired.token,
        "revoked": token_of(revoked),
        "session deleted": token_of(doomed),
        "cross-session": cross,
        "garbage": "not-a-token",
        "empty signature": payload + ".",
    }


async def test_every_bad_token_gets_the_same_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    tokens = await bad_tokens(client, app)
    for suffix in ["", "/session", "/events", "/stream", "/replay?speed=max"]:
        seen: dict[tuple[int, bytes, tuple[tuple[str, str], ...]], list[str]] = {}
        for reason, token in tokens.items():
            response = await client.get(f"/r/{token}{suffix}")
            assert response.status_code == 404, (reason, suffix, response.text)
            assert token not in response.text
            assert_share_headers(response)
            # X-Request-ID differs on every request by design; all else must match.
            headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
            key = (response.status_code, response.content, tuple(sorted(headers.items())))
            seen.setdefault(key, []).append(reason)
        assert len(seen) == 1, f"{suffix or 'page'} answers differ: {list(seen.values())}"
    page = await client.get(f"/r/{tokens['revoked']}")
    assert page.headers["content-type"].startswith("text/html")
    assert "does not work" in page.text
    events = await client.get(f"/r/{tokens['expired']}/events")
    assert events.headers["content-type"] == "application/problem+json"
    assert events.json()["instance"] == "/r/[token]/events"


async def test_revoke_is_immediate_and_unknown_shares_are_named(
    client: httpx.AsyncClient,
) -> None:
    await record(client, "s1")
    created = await share(client, "s1")
    token = token_of(created)
    assert (await client.get(f"/r/{token}/session")).status_code == 200
    assert (await client.delete(f"/v1/shares/{created['id']}")).status_code == 204
    assert (await client.get(f"/r/{token}/session")).status_code == 404
    assert (await client.delete(f"/v1/shares/{created['id']}")).status_code == 204
    unknown = await client.delete("/v1/shares/sh_nope")
    assert unknown.status_code == 404
    assert "sh_nope" in unknown.json()["detail"]


async def test_errors_under_r_do_not_echo_the_token(client: httpx.AsyncClient) -> None:
    await record(client, "s1")
    token = token_of(await share(client, "s1"))
    for path in [f"/r/{token}/events?after=-1", f"/r/{token}/replay?speed=fast"]:
        response = await client.get(path)
        assert response.status_code == 422
        assert token not in response.text
        assert response.json()["instance"].startswith("/r/[token]/")
        assert_share_headers(response)


async def test_the_secret_is_made_once_and_kept_private(settings: Settings) -> None:
    path = settings.data_dir / SECRET_FILE
    keys = []
    for _ in range(2):
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            keys.append(app.state.shares.key)
    assert keys[0] == keys[1]
    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_configured_secret_is_used_and_no_file_is_made(settings: Settings) -> None:
    secret = "s" * 40
    app = create_app(Settings(database_url=settings.database_url, secret=secret))
    async with app.router.lifespan_context(app):
        assert app.state.shares.key == secret.encode()
    assert not (settings.data_dir / SECRET_FILE).exists()


def test_short_secrets_and_odd_public_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 32"):
        Settings(secret="short")
    with pytest.raises(ValueError, match="not an http"):
        Settings(public_url="replays.example.com")


@pytest.fixture
def logged_server(app: FastAPI) -> Iterator[tuple[RunningServer, list[str]]]:
    """A real uvicorn with its access log on; yields the rendered log lines."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    names = ("uvicorn.access", "uvicorn.error", "replaydeck")
    with serve(app) as running:
        # serve() starts uvicorn at level warning; access lines are info.
        access = logging.getLogger("uvicorn.access")
        level = access.level
        access.setLevel(logging.INFO)
        for name in names:
            logging.getLogger(name).addHandler(handler)
        try:
            yield running, lines
        finally:
            access.setLevel(level)
            for name in names:
                logging.getLogger(name).removeHandler(handler)


def test_replay_over_a_share_on_a_real_server_and_no_token_in_logs(
    logged_server: tuple[RunningServer, list[str]],
) -> None:
    server, lines = logged_server
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/v1/sessions/s1/events", json=EVENTS).status_code == 200
        token = token_of(http.post("/v1/sessions/s1/shares", json={}).json())
        with connect_sse(http, "GET", f"/r/{token}/replay", params={"speed": "max"}) as source:
            assert_share_headers(source.response)
            # The opening `retry:` frame carries no data; keep the events.
            frames = [(sse.event, sse.id) for sse in source.iter_sse() if sse.data]
        assert http.get(f"/r/{token}").status_code == 200
        assert http.get(f"/r/{token}x/events").status_code == 404
        # uvicorn writes an access line after its response is sent.
        wait_until(lambda: any("/r/[token]/events" in line and "404" in line for line in lines))
    assert [event for event, _ in frames] == [e["type"] for e in EVENTS] + ["replay.end"]
    assert [seq for _, seq in frames] == ["1", "2", "3", "4", "5", "5"]
    access = [line for line in lines if "/r/" in line]
    assert access, lines
    assert all(token not in line for line in lines)
    assert any("GET /r/[token]/replay?speed=max" in line for line in access)


async def test_share_command_on_the_database_needs_the_public_url(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    await record(client, "s1")
    runner = CliRunner()
    base = ["share", "s1", "--expires", "2h", "--database-url", settings.database_url]
    # The command runs its own event loop, so it runs in a thread here.
    guess = await anyio.to_thread.run_sync(runner.invoke, main, base)
    assert guess.exit_code == 2
    assert "Which server will open this link?" in guess.output
    args = [*base, "--public-url", "https://replays.example.com"]
    result = await anyio.to_thread.run_sync(runner.invoke, main, args)
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("https://replays.example.com/r/")
    assert "valid until" in result.stderr
    assert (await client.get(f"/r/{url.rsplit('/r/', 1)[1]}/session")).json()["id"] == "s1"

    missing = await anyio.to_thread.run_sync(
        runner.invoke,
        main,
        ["share", "nope", "--database-url", settings.database_url, "--public-url", "http://x"],
    )
    assert missing.exit_code == 1
    assert "There is no session 'nope'" in missing.output
    for expires in ("soon", "90", "30s", "400d"):
        bad = await anyio.to_thread.run_sync(
            runner.invoke, main, ["share", "s1", "--expires", expires, "--database-url", "x"]
        )
        assert bad.exit_code == 2, expires
        assert "--expires" in bad.output


def test_share_command_through_the_server_uses_its_address(server: RunningServer) -> None:
    assert httpx.post(f"{server.url}/v1/sessions/s1/events", json={"type": "final"}).is_success
    runner = CliRunner()
    result = runner.invoke(main, ["share", "s1", "--url", server.url, "--expires", "1h"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith(f"{server.url}/r/")
    assert httpx.get(f"{url}/session").json()["id"] == "s1"
    unknown = runner.invoke(main, ["share", "nope", "--url", server.url])
    assert unknown.exit_code == 1
    assert "answered 404" in unknown.output


@pytest.mark.postgres
async def test_share_service_on_postgres(pg_url: str) -> None:
    engine = make_engine(Settings(database_url=pg_url))
    try:
        await open_store(engine).create_session("s1")
        service = ShareService(engine, b"k" * 32)
        created = await service.create("s1", expires_in=3600)
        assert (await service.open(created.token)).session_id == "s1"
        await service.revoke(created.share.id)
        with pytest.raises(ShareNotFound):
            await service.open(created.token)
        with pytest.raises(SessionNotFound):
            await service.create("nope", expires_in=3600)
    finally:
        await engine.dispose()
