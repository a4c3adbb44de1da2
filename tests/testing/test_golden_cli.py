"""`replaydeck golden …`, `export` and `import` through the real command and real databases."""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.testing.transfer import read_local
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def seeded(server: RunningServer, agent_turn: list[dict[str, Any]]) -> RunningServer:
    """A server holding session s1, recorded with the producer's own ids and timestamps."""
    sent = [{k: e[k] for k in ("type", "id", "ts", "data")} for e in agent_turn]
    with httpx.Client(base_url=server.url) as client:
        client.post("/v1/sessions", json={"id": "s1", "metadata": {"app": "demo"}})
        client.post("/v1/sessions/s1/events", json=sent).raise_for_status()
    return server


def stored(settings: Settings, session_id: str) -> list[dict[str, Any]]:
    return asyncio.run(read_local(settings, session_id)).events


def timing(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["id"], e["type"], e["ts"], e["offset_ms"], e["data"]) for e in events]


def test_export_then_import_on_a_fresh_database_keeps_the_timing(
    seeded: RunningServer, settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "s1.ndjson"
    result = invoke("export", "s1", "-o", str(archive), "--database-url", settings.database_url)
    assert result.exit_code == 0, result.output
    header, *lines = archive.read_text().splitlines()
    assert json.loads(header)["format"] == "replaydeck.session"
    assert json.loads(header)["session"]["metadata"] == {"app": "demo"}
    assert len(lines) == 7

    fresh = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    result = invoke("import", str(archive), "--database-url", fresh.database_url)
    assert result.exit_code == 0, result.output
    assert "imported session s1: 7 new of 7 events" in result.output
    assert timing(stored(fresh, "s1")) == timing(stored(settings, "s1"))

    again = invoke("import", str(archive), "--database-url", fresh.database_url)
    assert "0 new of 7 events" in again.output
    assert len(stored(fresh, "s1")) == 7


class FakeClock:
    """The server's replay clock, in virtual time: every wait is recorded, none is slept."""

    def __init__(self) -> None:
        self.time = 50.0
        self.deadlines: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        self.deadlines.append(deadline)
        self.time = max(self.time, deadline)


def test_an_imported_session_replays_with_the_recorded_timing(
    seeded: RunningServer, settings: Settings, tmp_path: Path, agent_turn: list[dict[str, Any]]
) -> None:
    archive = tmp_path / "s1.ndjson"
    invoke("export", "s1", "-o", str(archive), "--database-url", settings.database_url)
    fresh = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    invoke("import", str(archive), "--database-url", fresh.database_url)
    app = create_app(fresh)
    app.state.clock = clock = FakeClock()
    with serve(app) as running, httpx.Client(base_url=running.url, timeout=10) as client:
        body = client.get("/v1/sessions/s1/replay", params={"speed": 2}).text
    assert body.count("\nevent: ") == len(agent_turn) + 1  # the events and replay.end
    # The server's own pacing, on the fresh database, waits as the recording did.
    offsets = [e["offset_ms"] for e in agent_turn]
    assert clock.deadlines == pytest.approx([50.0 + ms / 1000 / 2 for ms in offsets[1:]])


def test_export_and_import_through_a_server(seeded: RunningServer, tmp_path: Path) -> None:
    archive = tmp_path / "s1.ndjson"
    assert invoke("export", "s1", "--url", seeded.url, "-o", str(archive)).exit_code == 0
    result = invoke("import", str(archive), "--url", seeded.url, "--session-id", "s1-copy")
    assert result.exit_code == 0, result.output
    assert "imported session s1-copy: 7 new of 7 events" in result.output
    with httpx.Client(base_url=seeded.url) as client:
        original = client.get("/v1/sessions/s1/events").json()["events"]
        copy = client.get("/v1/sessions/s1-copy/events").json()["events"]
        assert client.get("/v1/sessions/s1-copy").json()["metadata"] == {"app": "demo"}
    assert timing(copy) == timing(original)


@pytest.fixture
def golden_file(seeded: RunningServer, tmp_path: Path) -> Path:
    path = tmp_path / "golden" / "s1.jsonl"
    result = invoke("golden", "export", "s1", "--url", seeded.url, "-o", str(path))
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    return path


def test_golden_check_exits_0_when_equal(
    seeded: RunningServer, golden_file: Path, settings: Settings
) -> None:
    lines = golden_file.read_text().splitlines()
    assert json.loads(lines[3]) == {
        "type": "message",
        "data": {"text": "Server-Sent Events are one-way."},
    }
    result = invoke("golden", "check", "s1", str(golden_file), "--url", seeded.url)
    assert (result.exit_code, result.output) == (0, "equal: 5 entries\n")
    local = invoke(
        "golden", "check", "s1", str(golden_file), "--database-url", settings.database_url
    )
    assert local.exit_code == 0, local.output


def test_golden_diff_exits_1_naming_the_event_and_path(
    seeded: RunningServer, golden_file: Path, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.jsonl"
    changed.write_text(golden_file.read_text().replace('"q":"sse"', '"q":"websockets"'))
    result = invoke("golden", "diff", str(golden_file), str(changed))
    assert result.exit_code == 1
    assert result.output.startswith("event 1 (tool.call) differs at $[1].data.args.q\n")
    # a session URL on one side, a golden file on the other
    url = f"{seeded.url}/v1/sessions/s1"
    assert invoke("golden", "diff", url, str(golden_file)).exit_code == 0
    assert invoke("golden", "diff", url, str(changed)).exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["golden", "diff", "only-one"],
        ["golden", "check", "s1", "no-such-golden.jsonl"],
        ["golden", "diff", "a", "b", "--url", "http://127.0.0.1:9"],
        ["golden", "diff", "a", "b", "--mask-regex", "(unclosed"],
        ["golden", "diff", "a", "b", "--mask", "..."],
        ["import", "no-such-archive.ndjson"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output


def test_an_unknown_session_exits_2_with_a_hint(settings: Settings) -> None:
    assert invoke("db", "upgrade", "--database-url", settings.database_url).exit_code == 0
    result = invoke("golden", "diff", "nope", "nope", "--database-url", settings.database_url)
    assert result.exit_code == 2
    assert "no session 'nope'" in result.output


def test_reading_a_database_that_is_not_there_creates_none(settings: Settings) -> None:
    path = settings.sqlite_path
    assert path is not None
    for args in (
        ["golden", "export", "s1", "-o", str(path.parent / "g.jsonl")],
        ["export", "s1", "-o", "-"],
    ):
        result = invoke(*args, "--database-url", settings.database_url)
        assert result.exit_code in (1, 2), result.output
        assert f"There is no database at {path.resolve()}" in result.output
    assert not path.exists()


def test_an_archive_event_the_store_refuses_exits_1_saying_why(
    settings: Settings, tmp_path: Path
) -> None:
    archive = tmp_path / "bad.ndjson"
    archive.write_text(
        '{"format":"replaydeck.session","version":1,"session":{"id":"b1"},"count":1}\n'
        '{"seq":1,"id":"x","type":"Not A Type","ts":"2026-11-23T10:00:00Z","data":{}}\n'
    )
    result = invoke("import", str(archive), "--database-url", settings.database_url)
    assert result.exit_code == 1, result.output
    assert "Not A Type" in result.output


def test_a_newer_archive_version_is_refused(settings: Settings, tmp_path: Path) -> None:
    archive = tmp_path / "future.ndjson"
    archive.write_text('{"format":"replaydeck.session","version":9,"session":{"id":"f"}}\n')
    result = invoke("import", str(archive), "--database-url", settings.database_url)
    assert result.exit_code == 1
    assert "version 9 archive" in result.output


def test_a_server_with_keys_wants_one_and_the_cli_passes_it(
    seeded: RunningServer, settings: Settings, tmp_path: Path
) -> None:
    created = invoke("keys", "create", "--scope", "admin", "--database-url", settings.database_url)
    key = created.stdout.strip()
    archive = tmp_path / "s1.ndjson"
    refused = invoke("export", "s1", "--url", seeded.url, "-o", str(archive))
    assert refused.exit_code == 1
    assert "answered 401" in refused.output
    assert "--api-key" in refused.output
    args = ["--url", seeded.url, "--api-key", key]
    assert invoke("export", "s1", "-o", str(archive), *args).exit_code == 0
    result = invoke("import", str(archive), "--session-id", "s1-copy", *args)
    assert "7 new of 7 events" in result.output


def test_an_ingest_key_is_enough_to_import_and_trace_takes_session_urls(
    seeded: RunningServer, settings: Settings, tmp_path: Path
) -> None:
    def key(scope: str) -> str:
        created = invoke(
            "keys", "create", "--scope", scope, "--database-url", settings.database_url
        )
        assert created.exit_code == 0, created.output
        return str(created.stdout.strip())

    admin, ingest, read = key("admin"), key("ingest"), key("read")
    archive = tmp_path / "s1.ndjson"
    exported = invoke("export", "s1", "-o", str(archive), "--url", seeded.url, "--api-key", admin)
    assert exported.exit_code == 0, exported.output
    args = ["--url", seeded.url, "--api-key", ingest]
    first = invoke("import", str(archive), "--session-id", "s1-copy", *args)
    assert first.exit_code == 0, first.output
    assert "7 new of 7 events" in first.output
    # Again: the session exists, and an ingest key may not read what it holds.
    again = invoke("import", str(archive), "--session-id", "s1-copy", *args)
    assert again.exit_code == 0, again.output
    assert "7 events sent; the session existed" in again.output

    session_url = f"{seeded.url}/v1/sessions/s1-copy"
    traced = invoke("trace", session_url, "--api-key", read)
    assert traced.exit_code == 0, traced.output
    spans = json.loads(traced.stdout)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert any(span["name"].startswith("execute_tool") for span in spans)
    by_id = invoke("trace", "s1-copy", "--url", seeded.url, "--api-key", read)
    assert json.loads(by_id.stdout) == json.loads(traced.stdout)
    refused = invoke("trace", session_url)
    assert refused.exit_code == 1
    assert "answered 401" in refused.output


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.startswith("replaydeck, version ")


def test_golden_check_and_diff_apply_the_normalization_the_file_records(
    seeded: RunningServer, tmp_path: Path
) -> None:
    path = tmp_path / "masked.jsonl"
    made = invoke(
        "golden", "export", "s1", "--url", seeded.url, "-o", str(path), "--mask", "data.args.q"
    )
    assert made.exit_code == 0, made.output
    header, *entries = (json.loads(line) for line in path.read_text().splitlines())
    assert header == {
        "format": "replaydeck.golden",
        "version": 1,
        "normalize": {"mask_paths": {"data.args.q": "<masked>"}},
    }
    assert entries[1]["data"]["args"] == {"q": "<masked>"}
    # No flags: the header's mask applies to the session, which has "q": "sse".
    checked = invoke("golden", "check", "s1", str(path), "--url", seeded.url)
    assert (checked.exit_code, checked.output) == (0, "equal: 5 entries\n")
    session = f"{seeded.url}/v1/sessions/s1"
    assert invoke("golden", "diff", str(path), session).exit_code == 0
    # Flags given on the command line replace what the file records.
    unmasked = invoke("golden", "check", "s1", str(path), "--url", seeded.url, "--strict")
    assert unmasked.exit_code == 1

    broken = tmp_path / "broken.jsonl"
    lines = path.read_text().splitlines()
    recorded = json.loads(lines[0])
    recorded["normalize"]["transforms"] = ["no_such_module:tidy"]
    broken.write_text("\n".join([json.dumps(recorded), *lines[1:]]) + "\n")
    refused = invoke("golden", "check", "s1", str(broken), "--url", seeded.url)
    assert refused.exit_code == 2
    assert "the normalizer 'no_such_module:tidy' cannot be imported" in refused.output
