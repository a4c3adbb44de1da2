"""A `format=sse` replay sends an app's own SSE ids back, so a client reconnecting sends
one of them as Last-Event-ID: the replay resumes right after the event that carried it,
on the replay route and its /r/ share twin, on SQLite and PostgreSQL. The client is the
`eventsource` package, whose connection is dropped after every frame (it reconnects by
itself); an id that names nothing gets a problem saying what to send instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from replaydeck.config import Settings
from replaydeck.formats.sse import parse_all
from replaydeck.web.app import create_app
from tests.formats.test_frame_ids import stored_and_shared
from tests.node import run_node
from tests.servers import RunningServer, serve
from tests.store.pg import database_url, pg_template, pg_url

__all__ = ["pg_template", "pg_url"]

SUITE = Path(__file__).resolve().parents[1] / "js" / "protocols"
# As the capture stores a plain SSE app's stream (formats/generic.py): each frame's own
# `id:` as `sse_id`. The app counts from 1, and the user's turn before its frames makes
# replaydeck's seqs run one ahead: "2" is seq 3's own id, but seq 2 is also "2" by number.
SESSION: list[dict[str, Any]] = [
    {"type": "user.message", "data": {"text": "Hi"}},
    {"type": "status", "data": {"label": "searching", "sse_id": "1"}},
    {"type": "message.delta", "data": {"text": "Hel", "sse_id": "2"}},
    {"type": "message.delta", "data": {"text": "lo"}},  # no id of its own: sent as its seq, 4
    {"type": "sse.tick", "data": {"text": "x", "raw": "x", "raw_format": "sse", "sse_id": "t-5"}},
    {"type": "final", "data": {"sse_event": "final", "sse_id": "3"}},
]
NAMES = ["status", "message.delta", "sse.tick", "final"]


@pytest.fixture(params=["sqlite", "postgres"])
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    url = database_url(request, tmp_path, request.param)
    # A short retry, so the client's reconnects are quick; a small page, so finding an
    # id reads several pages.
    settings = Settings(database_url=url, sse_retry_ms=5, read_page_size=2)
    with serve(create_app(settings)) as server:
        yield server


@pytest.fixture
def replay_urls(running: RunningServer) -> list[str]:
    urls = stored_and_shared(running.url, "own-ids", SESSION)
    return [f"{url}?format=sse&speed=max" for url in urls]


def test_a_client_reconnecting_after_every_frame_resumes_after_the_apps_own_id(
    replay_urls: list[str],
) -> None:
    for url in replay_urls:
        whole = [(f.id, f.event, f.data) for f in parse_all(httpx.get(url).content)]
        assert [frame_id for frame_id, _, _ in whole] == ["1", "2", "4", "t-5", "3"]
        read = json.loads(run_node(SUITE, "eventsource", "reconnect.mjs", url, *NAMES))
        # Every frame once, in order, each from a connection of its own.
        assert [(e["id"], e["event"], e["data"]) for e in read["events"]] == whole
        assert read["resumedWith"] == ["1", "2", "4", "t-5", "3"]


@pytest.mark.parametrize(
    ("last", "rest"),
    [("1", ["2", "4", "t-5", "3"]), ("2", ["4", "t-5", "3"]), ("4", ["t-5", "3"]), ("t-5", ["3"])],
)
def test_each_id_resumes_right_after_its_frame(
    replay_urls: list[str], last: str, rest: list[str]
) -> None:
    for url in replay_urls:
        response = httpx.get(url, headers={"Last-Event-ID": last})
        assert [f.id for f in parse_all(response.content)] == rest
    # The app's last id: nothing follows, and the session is over.
    assert httpx.get(replay_urls[0], headers={"Last-Event-ID": "3"}).status_code == 204


def test_an_id_that_names_nothing_is_a_problem_that_says_what_to_send(
    replay_urls: list[str],
) -> None:
    for url in replay_urls:
        response = httpx.get(url, headers={"Last-Event-ID": "evt-404"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        detail = response.json()["detail"]
        assert "'Last-Event-ID'" in detail
        assert "'evt-404'" in detail
        assert "?from=" in detail
    # Another protocol's replay sends no app ids: the problem says which replay does.
    other = replay_urls[0].replace("format=sse", "format=vercel-ai")
    response = httpx.get(other, headers={"Last-Event-ID": "t-5"})
    assert response.status_code == 422
    assert "format=sse" in response.json()["detail"]
