"""GET /v1/sessions/{id}/trace and `replaydeck trace SESSION -o file.json`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.tracing.document import from_otlp_json
from replaydeck.web.serve import migrate
from tests.servers import RunningServer
from tests.tracing.tracing_helpers import ts

EVENTS = [
    {"type": "tool.call", "data": {"name": "calc", "args": {"x": 1}, "call_id": "c1"}, "ts": ts(0)},
    {"type": "tool.result", "data": {"name": "calc", "call_id": "c1", "result": 2}, "ts": ts(250)},
    {"type": "final", "data": {}, "ts": ts(300)},
]


@pytest.mark.anyio
async def test_trace_route_returns_a_loadable_otlp_json_document(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/v1/sessions/s-doc/events", json=EVENTS)).status_code == 200
    response = await client.get("/v1/sessions/s-doc/trace")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    (resource_spans,) = from_otlp_json(response.json()).resource_spans
    spans = {span.name: span for span in resource_spans.scope_spans[0].spans}
    assert set(spans) == {"invoke_agent s-doc", "execute_tool calc"}
    tool = spans["execute_tool calc"]
    assert tool.end_time_unix_nano - tool.start_time_unix_nano == 250_000_000
    session = (await client.get("/v1/sessions/s-doc")).json()
    assert tool.trace_id.hex() == session["trace_id"]


@pytest.mark.anyio
async def test_trace_of_an_unknown_session_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/sessions/nope/trace")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "nope" in response.json()["detail"]


def test_cli_writes_the_document_to_a_file(
    server: RunningServer, settings: Settings, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/v1/sessions/s-cli/events", json=EVENTS).status_code == 200
        over_http = client.get("/v1/sessions/s-cli/trace").json()
    output = tmp_path / "trace.json"
    result = CliRunner().invoke(
        main, ["trace", "s-cli", "-o", str(output), "--database-url", settings.database_url]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 2 spans" in result.output
    assert orjson.loads(output.read_bytes()) == over_http


def test_cli_names_a_missing_session(settings: Settings) -> None:
    asyncio.run(migrate(settings))
    result = CliRunner().invoke(main, ["trace", "ghost", "--database-url", settings.database_url])
    assert result.exit_code == 1
    assert "There is no session 'ghost'" in result.output


def test_cli_does_not_create_a_database_to_read_from(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/absent.db"
    result = CliRunner().invoke(main, ["trace", "s", "--database-url", url])
    assert result.exit_code == 1
    assert "There is no database at" in result.output
    assert not (tmp_path / "absent.db").exists()
