"""Redaction canaries: 1,000 planted secrets never reach the database, exports, spans or logs.

Each event carries one unique secret, planted the ways apps leak them (key
names like password/authorization/api_key, `sk-…`, `Bearer …`, `AKIA…`,
`?access_token=` in a URL, nested in tool args and results, in session
metadata), beside a unique visible marker that must survive: the control
that shows each scan really reads the data it checks.
"""

from __future__ import annotations

import logging
import random
import secrets
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.main import create_app
from tests.reliability.soak import size

CANARIES = size(1000, 10_000)
SESSIONS = 10

pytestmark = pytest.mark.anyio


def plant(i: int, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """(secret part to search for, visible marker, event)."""
    secret = f"cnry{i:05d}{secrets.token_hex(10)}"
    # AKIA and 16 upper-case letters or digits, the shape of an AWS access key id.
    aws = f"AKIACNRY{i:05d}" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(7))
    visible = f"visible{i:05d}"
    kind = i % 9
    if kind == 0:
        event = {"type": "message.delta", "data": {"text": f"{visible} key sk-{secret}"}}
    elif kind == 1:
        args = {"q": visible, "headers": {"Authorization": f"Bearer {secret}"}}
        event = {"type": "tool.call", "data": {"name": "http", "args": args, "call_id": f"c{i}"}}
    elif kind == 2:
        result = {"user": visible, "password": secret}
        event = {
            "type": "tool.result",
            "data": {"name": "db", "call_id": f"c{i}", "result": result},
        }
    elif kind == 3:
        secret = aws
        event = {"type": "status", "data": {"label": f"{visible} using {aws}"}}
    elif kind == 4:
        event = {"type": "replaydeck.config", "data": {"api_key": secret, "name": visible}}
    elif kind == 5:
        event = {"type": "error", "data": {"message": f"{visible}: upstream said Bearer {secret}"}}
    elif kind == 6:
        text = f"{visible} https://x.test/cb?access_token={secret}&x=1"
        event = {"type": "message.delta", "data": {"text": text}}
    elif kind == 7:
        args = {"config": {"client_secret": secret, "region": visible}}
        event = {"type": "tool.call", "data": {"name": "cloud", "args": args, "call_id": f"c{i}"}}
    else:
        cookies = [{"Cookie": f"sid={secret}", "note": visible}]
        event = {"type": "retrieval.hit", "data": {"items": cookies}}
    return secret, visible, event


async def test_planted_secrets_are_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{data}/canary.db")
    rng = random.Random(11)
    planted = [plant(i, rng) for i in range(CANARIES)]
    app = create_app(settings)
    traces: list[str] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            meta_secret = f"cnrymeta{secrets.token_hex(10)}"
            planted.append((meta_secret, "visible-meta", {}))
            response = await client.post(
                "/v1/sessions",
                json={"id": "canary-0", "metadata": {"cookie": meta_secret, "app": "visible-meta"}},
            )
            assert response.status_code == 201
            for start in range(0, CANARIES, 50):
                batch = [event for _, _, event in planted[start : start + 50]]
                session = f"canary-{(start // 50) % SESSIONS}"
                response = await client.post(f"/v1/sessions/{session}/events", json=batch)
                assert response.status_code == 200, response.text
            reads = []
            for n in range(SESSIONS):
                session = f"canary-{n}"
                await client.post(f"/v1/sessions/{session}/events", json={"type": "final"})
                reads.append((await client.get(f"/v1/sessions/{session}/events?limit=1000")).text)
                reads.append((await client.get(f"/v1/sessions/{session}")).text)
                trace = await client.get(f"/v1/sessions/{session}/trace")
                assert trace.status_code == 200
                traces.append(trace.text)
    exports = []
    for n in range(SESSIONS):
        out = tmp_path / f"export-{n}.ndjson"
        args = ["export", f"canary-{n}", "-o", str(out)]
        env = {"REPLAYDECK_DATABASE_URL": settings.database_url}
        # The command runs its own event loop, so not on this one.
        result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, args, env=env))  # noqa: B023
        assert result.exit_code == 0, result.output
        exports.append(out.read_text())
    # Every file SQLite wrote: the database, its WAL and shared memory.
    database = b"".join(path.read_bytes() for path in data.iterdir() if path.is_file())
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err

    places = {
        "database files": database.decode("latin-1"),
        "API reads": "".join(reads),
        "exports": "".join(exports),
        "spans": "".join(traces),
        "logs": logs,
    }
    for place, text in places.items():
        leaked = [secret for secret, _, _ in planted if secret in text]
        assert not leaked, f"{len(leaked)} secrets reached the {place}, e.g. {leaked[:3]}"
    # Control: what is not secret is there, so the scans above read real data.
    for place in ("database files", "API reads", "exports"):
        missing = [visible for _, visible, _ in planted if visible not in places[place]]
        assert not missing, f"{place} lack {len(missing)} visible markers, e.g. {missing[:3]}"
    in_spans = sum(visible in places["spans"] for _, visible, _ in planted)
    assert "[REDACTED]" in places["spans"]
    print(
        f"\n[canaries] {len(planted)} planted secrets: 0 in the database files, API reads, "
        f"exports, spans ({len(traces)} traces, {in_spans} visible markers) or logs; "
        "all visible markers kept"
    )
