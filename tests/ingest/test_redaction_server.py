"""Redaction through a real server: ids that hold secrets are refused, split secrets
and JSON inside strings are redacted before anything is stored."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.ingest.redact import REDACTED
from replaydeck.testing.archive import event_line, header_line
from tests.servers import RunningServer
from tests.waiting import wait_until

SECRET = "sk-proj-Zq81mVbN4kLp0sXt7yWe"


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    assert SECRET not in detail
    return detail


def test_a_session_id_that_holds_a_secret_is_refused_and_not_logged(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="replaydeck.access")
    event = {"type": "status", "data": {"label": "x"}}
    with httpx.Client(base_url=server.url) as client:
        detail = problem(client.post("/v1/sessions", json={"id": f"u1-{SECRET}"}), 422)
        assert "session id looks like it holds a secret" in detail
        detail = problem(client.post(f"/v1/sessions/u1-{SECRET}/events", json=event), 422)
        assert "choose an id that carries no credential" in detail
        # Reads of such a path are logged masked too.
        assert client.get(f"/v1/sessions/{SECRET}").status_code == 404
        assert client.get("/v1/sessions").json()["sessions"] == []

    def access_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "replaydeck.access"]

    # A request's line is written once its response has ended, so after the client has it.
    wait_until(lambda: len(access_lines()) == 4, timeout=10)
    lines = access_lines()
    assert all(SECRET not in line for line in lines), lines
    assert f"/v1/sessions/u1-{REDACTED}/events" in lines[1]


def test_an_event_id_that_holds_a_secret_refuses_the_request(server: RunningServer) -> None:
    batch = [
        {"type": "status", "data": {"label": "ok"}, "id": "e1"},
        {"type": "status", "data": {"label": "ok"}, "id": f"call-{SECRET}"},
    ]
    with httpx.Client(base_url=server.url) as client:
        detail = problem(client.post("/v1/sessions/s/events", json=batch), 422)
        assert detail.startswith("Event 1 has an 'id' that looks like it holds a secret")
        assert "leave 'id' out" in detail
        # The request is refused whole: nothing of it is stored.
        assert client.get("/v1/sessions/s").status_code == 404


def test_a_secret_split_between_deltas_is_not_stored(server: RunningServer) -> None:
    chunks = ["Your key: ", *(SECRET[i : i + 4] for i in range(0, len(SECRET), 4)), " (keep it)"]
    batch = [{"type": "message.delta", "data": {"text": c, "message_id": "m"}} for c in chunks]
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/v1/sessions/s/events", json=batch).status_code == 200
        stored = client.get("/v1/sessions/s/events").json()["events"]
        session = client.get("/v1/sessions/s").json()
    text = "".join(event["data"]["text"] for event in stored)
    assert text == f"Your key: {REDACTED} (keep it)"
    assert len(stored) == len(chunks)
    assert session["metadata"] == {"redacted": 1}


def test_json_inside_a_tool_result_string_is_redacted(server: RunningServer) -> None:
    result = json.dumps({"status": 200, "body": {"openai_api_key": "k-1", "model": "gpt"}})
    event = {"type": "tool.result", "data": {"name": "http", "call_id": "c", "result": result}}
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/v1/sessions/s/events", json=event).status_code == 200
        stored = client.get("/v1/sessions/s/events").json()["events"][0]
    assert json.loads(stored["data"]["result"]) == {
        "status": 200,
        "body": {"openai_api_key": REDACTED, "model": "gpt"},
    }


def test_import_redacts_metadata_and_refuses_secret_ids(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/import.db")
    env = {"REPLAYDECK_DATABASE_URL": settings.database_url}
    event = {"type": "status", "data": {"label": "x"}, "id": "e1", "ts": "2026-01-01T00:00:00Z"}

    def archive(session_id: str) -> Path:
        path = tmp_path / "archive.ndjson"
        session = {"id": session_id, "metadata": {"app": "a", "db_password": SECRET}}
        path.write_bytes(header_line(session, 1) + event_line(event))
        return path

    runner = CliRunner()
    result = runner.invoke(main, ["import", str(archive("s1"))], env=env)
    assert result.exit_code == 0, result.output
    exported = tmp_path / "export.ndjson"
    result = runner.invoke(main, ["export", "s1", "-o", str(exported)], env=env)
    assert result.exit_code == 0, result.output
    assert SECRET not in exported.read_text()
    assert json.loads(exported.read_text().splitlines()[0])["session"]["metadata"] == {
        "app": "a",
        "db_password": REDACTED,
        "redacted": 1,
    }
    result = runner.invoke(main, ["import", str(archive(f"s-{SECRET}"))], env=env)
    assert result.exit_code != 0
    assert "session id looks like it holds a secret" in result.output
    assert SECRET not in result.output
