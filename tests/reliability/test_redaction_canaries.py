"""Redaction canaries: 1,000 planted secrets never reach the database, exports, spans or logs.

Each canary carries one unique secret, planted the ways apps leak them (key
names like password/authorization/api_key/openai_api_key/x-amz-security-token,
`sk-…`, `Bearer …`/`bearer …`, `AKIA…`, `sk_live_…`, `xoxb-…`, `AIza…`,
`github_pat_…`, JWTs, `key_sk-…`, `?access_token=` and passwords in URLs, JSON
documents inside tool results' strings, a key split between two deltas, nested
in tool args and results, in session metadata), beside a unique visible marker
that must survive: the control that shows each scan really reads the data it
checks. Session and event ids that hold secrets are refused, and their secrets
are searched for too.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.reliability.soak import size

CANARIES = size(1000, 10_000)
SESSIONS = 10
REFUSED = 20

pytestmark = pytest.mark.anyio

# Key names the word rule must catch, one per canary in turn.
SECRET_KEYS = [
    "openai_api_key",
    "aws_secret_access_key",
    "anthropic-api-key",
    "x-goog-api-key",
    "x-amz-security-token",
    "passphrase",
    "pwd",
    "credentials",
    "sessionid",
    "OpenAIApiKey",
]
# Secret shapes found by pattern, one per canary in turn.
SHAPES: list[Callable[[str], str]] = [
    lambda s: f"sk_live_{s}",
    lambda s: f"xoxb-{s}",
    lambda s: f"AIza{s}",
    lambda s: f"github_pat_{s}",
    lambda s: f"eyJ{s}.eyJ{s}.{s}",
    lambda s: f"key_sk-{s}",
]
KINDS = 15


def plant(i: int, rng: random.Random) -> tuple[list[str], str, list[dict[str, Any]]]:
    """(secret parts to search for, visible marker, the events that carry them).

    Deltas of different canaries are different messages (a message's deltas are
    read joined, so a token at the end of one would run into the next).
    """
    secret = f"cnry{i:05d}{secrets.token_hex(12)}"
    # AKIA and 16 upper-case letters or digits, the shape of an AWS access key id.
    aws = f"AKIACNRY{i:05d}" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(7))
    visible = f"visible{i:05d}"
    kind = i % KINDS
    if kind == 0:
        text = f"{visible} key sk-{secret}"
        event = {"type": "message.delta", "data": {"text": text, "message_id": f"m{i}"}}
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
        event = {"type": "message.delta", "data": {"text": text, "message_id": f"m{i}"}}
    elif kind == 7:
        args = {"config": {"client_secret": secret, "region": visible}}
        event = {"type": "tool.call", "data": {"name": "cloud", "args": args, "call_id": f"c{i}"}}
    elif kind == 8:
        cookies = [{"Cookie": f"sid={secret}", "note": visible}]
        event = {"type": "retrieval.hit", "data": {"items": cookies}}
    elif kind == 9:
        key = SECRET_KEYS[(i // KINDS) % len(SECRET_KEYS)]
        args = {"headers": {key: secret, "accept": visible}}
        event = {"type": "tool.call", "data": {"name": "http", "args": args, "call_id": f"c{i}"}}
    elif kind == 10:
        # A tool result that is a JSON document in a string, as most tools return.
        body = json.dumps({"status": 200, "api_key": secret, "note": visible, "n": 2**70})
        result = {"name": "http", "call_id": f"c{i}", "result": body}
        event = {"type": "tool.result", "data": result}
    elif kind == 11:
        text = f"{visible} curl -H 'authorization: bearer {secret}' https://x.test"
        event = {"type": "message.delta", "data": {"text": text, "message_id": f"m{i}"}}
    elif kind == 12:
        text = f"{visible} connecting to postgres://app:{secret}@db.internal:5432/app"
        event = {"type": "status", "data": {"label": text}}
    elif kind == 13:
        shape = SHAPES[(i // KINDS) % len(SHAPES)](secret)
        text = f"{visible} token {shape}."
        event = {"type": "message.delta", "data": {"text": text, "message_id": f"m{i}"}}
    else:
        # A key the model streams in two deltas; the first part matches on its own.
        parts = [f"{visible} key sk-{secret[:16]}", secret[16:], " (keep it safe)"]
        data = [{"text": part, "message_id": f"m{i}"} for part in parts]
        return (
            [secret[:16], secret[16:]],
            visible,
            [{"type": "message.delta", "data": d} for d in data],
        )
    return [secret], visible, [event]


def refused_id(n: int) -> tuple[str, str]:
    """(secret part, an id that carries it in one of the shapes)."""
    secret = f"cnryid{n:03d}{secrets.token_hex(12)}"
    shapes = [f"sk-{secret}", f"xoxb-{secret}", f"AIza{secret}", f"github_pat_{secret}"]
    return secret, shapes[n % len(shapes)]


async def test_planted_secrets_are_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # The test's own HTTP client logs each URL it requests, refused ids and all;
    # that is the client's log, not the server's. (First: set_level also sets the
    # capturing handler's level, which the second call puts back to DEBUG.)
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{data}/canary.db")
    rng = random.Random(11)
    planted = [plant(i, rng) for i in range(CANARIES)]
    refused = [refused_id(n) for n in range(REFUSED)]
    app = create_app(settings)
    traces: list[str] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            meta = [f"cnrymeta{secrets.token_hex(10)}" for _ in range(2)]
            planted.append((meta, "visible-meta", []))
            metadata = {"cookie": meta[0], "x-goog-api-key": meta[1], "app": "visible-meta"}
            response = await client.post(
                "/v1/sessions", json={"id": "canary-0", "metadata": metadata}
            )
            assert response.status_code == 201
            for start in range(0, CANARIES, 50):
                batch = [e for _, _, events in planted[start : start + 50] for e in events]
                session = f"canary-{(start // 50) % SESSIONS}"
                response = await client.post(f"/v1/sessions/{session}/events", json=batch)
                assert response.status_code == 200, response.text
            # Ids are keys and cannot be redacted: the requests are refused whole.
            status = {"type": "status", "data": {"label": "x"}}
            for n, (_, carrier) in enumerate(refused):
                if n % 3 == 0:
                    response = await client.post("/v1/sessions", json={"id": f"s-{carrier}"})
                elif n % 3 == 1:
                    response = await client.post(f"/v1/sessions/s-{carrier}/events", json=status)
                else:
                    event = {**status, "id": f"e-{carrier}"}
                    response = await client.post("/v1/sessions/canary-0/events", json=[event])
                assert response.status_code == 422, response.text
            reads = []
            for n in range(SESSIONS):
                session = f"canary-{n}"
                await client.post(f"/v1/sessions/{session}/events", json={"type": "final"})
                reads.append((await client.get(f"/v1/sessions/{session}/events?limit=2000")).text)
                reads.append((await client.get(f"/v1/sessions/{session}")).text)
                trace = await client.get(f"/v1/sessions/{session}/trace")
                assert trace.status_code == 200
                traces.append(trace.text)
            listed = await client.get("/v1/sessions", params={"limit": 100})
            assert len(listed.json()["sessions"]) == SESSIONS
            reads.append(listed.text)
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
        "API reads and session lists": "".join(reads),
        "exports": "".join(exports),
        "spans": "".join(traces),
        "logs": logs,
    }
    searched = [part for parts, _, _ in planted for part in parts]
    searched += [secret for secret, _ in refused]
    for place, text in places.items():
        leaked = [secret for secret in searched if secret in text]
        assert not leaked, f"{len(leaked)} secrets reached the {place}, e.g. {leaked[:3]}"
    # Control: what is not secret is there, so the scans above read real data.
    for place in ("database files", "API reads and session lists", "exports"):
        missing = [visible for _, visible, _ in planted if visible not in places[place]]
        assert not missing, f"{place} lack {len(missing)} visible markers, e.g. {missing[:3]}"
    in_spans = sum(visible in places["spans"] for _, visible, _ in planted)
    assert "[REDACTED]" in places["spans"]
    # The refused requests were logged, with their ids masked.
    assert places["logs"].count("s-[REDACTED]") >= REFUSED // 3
    print(
        f"\n[canaries] {len(searched)} planted secrets ({len(planted)} canaries, "
        f"{len(refused)} in refused ids): 0 in the database files, API reads, session "
        f"lists, exports, spans ({len(traces)} traces, {in_spans} visible markers) or "
        "logs; all visible markers kept"
    )
