"""Odd timestamps through a real `replaydeck serve`, on SQLite and PostgreSQL.

A year before 1000 used to be written without zero padding; the tracer could not
parse it back inside the writer's completion callback, which wedged every append
on the server (and on PostgreSQL answered 500 for a committed append). Every year
from 1 to 9999 is accepted and round-trips; anything outside is a 422.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.procs import ServerProcess
from tests.store.pg import database_url, pg_template, pg_url

__all__ = ["pg_template", "pg_url"]

pytestmark = pytest.mark.slow

ACCEPTED = [
    ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000000Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
    ("0001-01-01T14:00:00+14:00", "0001-01-01T00:00:00.000000Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
    ("9999-12-31T23:00:00+14:00", "9999-12-31T09:00:00.000000Z"),
    (0, "1970-01-01T00:00:00.000000Z"),
]
REFUSED = [
    "9999-12-31T23:00:00-14:00",  # 10000-01-01 in UTC
    "0001-01-01T00:00:00+00:01",  # year 0 in UTC
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    253_402_300_800_000,  # epoch ms of 10000-01-01
    -1,
]
# Numbers no JSON parser here can hold: the body itself is refused, with a sentence.
UNPARSABLE = ["1" * 5000, "1e400"]


@pytest.fixture(params=["sqlite", "postgres"])
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url(request, tmp_path, request.param), tmp_path / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_every_year_round_trips_and_nothing_outside_wedges_the_server(
    running: ServerProcess,
) -> None:
    with httpx.Client(base_url=running.url, timeout=10) as client:
        for n, (ts, expected) in enumerate(ACCEPTED):
            body = {"type": "status", "data": {"label": "x"}, "ts": ts, "id": "e"}
            answer = client.post(f"/v1/sessions/odd-{n}/events", json=body)
            assert answer.status_code == 200, answer.text
            (event,) = client.get(f"/v1/sessions/odd-{n}/events").json()["events"]
            assert event["ts"] == expected
            # The session's trace still builds, and the session takes more appends.
            assert client.get(f"/v1/sessions/odd-{n}/trace").status_code == 200
            more = client.post(f"/v1/sessions/odd-{n}/events", json={"type": "final"})
            assert more.json()["last_seq"] == 2
        for ts in REFUSED:
            raw = f'{{"type": "status", "data": {{"label": "x"}}, "ts": {_json(ts)}}}'
            answer = client.post(
                "/v1/sessions/refused/events",
                content=raw,
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 422, (ts, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert "ts" in answer.json()["detail"]
        for number in UNPARSABLE:
            raw = f'{{"type": "status", "data": {{"label": "x"}}, "ts": {number}}}'
            answer = client.post(
                "/v1/sessions/refused/events",
                content=raw,
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 400, answer.text
            assert "not valid JSON" in answer.json()["detail"]
        # Every other session still appends, and the server says it is ready.
        assert client.post("/v1/sessions/other/events", json={"type": "final"}).status_code == 200
        assert client.get("/readyz").status_code == 200

    # A restart rebuilds the traces of what is stored, and SIGTERM ends the process.
    running.stop()
    running.start()
    with httpx.Client(base_url=running.url, timeout=10) as client:
        answer = client.post(
            "/v1/sessions/odd-0b/events",
            json={"type": "status", "ts": "0999-06-01T00:00:00Z", "data": {"label": "y"}},
        )
        assert answer.status_code == 200
        assert client.get("/v1/sessions/odd-0b/trace").status_code == 200
    assert running.process is not None
    running.process.terminate()
    assert running.process.wait(timeout=15) is not None


def _json(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)
