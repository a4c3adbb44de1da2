"""Every number a client writes in a query or a header is read strictly, through a real server.

Python's int() reads "+5", " 5", "5_0" and Arabic-Indic digits (and pydantic's
int did too), and raises instead of answering for a string of more than 4300
digits, which was a 500 on every stream route and on append. A seq, a count or a
cursor is written the way replaydeck writes it, and anything else is a 422
problem naming the parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import serve

HUGE = "9" * 5000
# Not whole numbers as replaydeck writes them (ASCII digits only, up to 2**63 - 1).
BAD_WHOLE_NUMBERS = [
    HUGE,
    "-" + HUGE,
    "9223372036854775808",
    "99999999999999999999",
    "-1",
    "+5",
    " 5",
    "5 ",
    "5\n",
    "\u0665",  # ARABIC-INDIC DIGIT FIVE: int() reads it as 5
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "\u00b2",  # SUPERSCRIPT TWO: isdigit() is true, int() fails
    "5_0",
    "5.0",
    "1e3",
    "0x10",
    "",
]
# As HTTP header values (the parser strips surrounding spaces, which is not the value's).
BAD_HEADER_SEQS = [
    HUGE.encode(),
    b"-" + HUGE.encode(),
    b"9223372036854775808",
    b"-1",
    b"+5",
    b"5 5",
    "\u0665".encode(),
    b"\xb2",
    b"5_0",
    b"7.5",  # a frame id on the replay routes (<seq>.<k>), nothing else
    b"7.5.1",
    b"7.",
    b"1e3",
    b"null",
    b'"7',
    b"",
]
BAD_NUMBERS = [HUGE + "x", "inf", "nan", "1e400", "-1", " 5", "5_0", "\u0665", "0x10", "1,5", ""]


@dataclass
class Api:
    url: str
    token: str


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/inputs.db")
    with serve(create_app(settings)) as running, httpx.Client(base_url=running.url) as client:
        # "done" has ended, so any stream that is accepted ends by itself.
        client.post(
            "/v1/sessions/done/events",
            json=[{"type": "status", "data": {"label": "x"}}, {"type": "final", "data": {}}],
        ).raise_for_status()
        url = client.post("/v1/sessions/done/shares", json={}).json()["url"]
        yield Api(running.url, url.rsplit("/r/", 1)[1])


def refusals(client: httpx.Client, method: str, url: str, name: str, **kwargs: object) -> list[str]:
    """Why this request is not a 422 problem naming `name`; empty when it is."""
    response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    if response.status_code != 422:
        return [f"{method} {url[:80]} {kwargs!r:.80}: {response.status_code} {response.text[:80]}"]
    if response.headers["content-type"] != "application/problem+json":
        return [f"{url[:80]}: {response.headers['content-type']}"]
    if f"'{name}'" not in response.json()["detail"]:
        return [f"{url[:80]}: {response.json()['detail']}"]
    return []


def test_whole_numbers_in_queries_are_read_strictly(api: Api) -> None:
    targets = [
        ("/v1/sessions", "limit"),
        ("/v1/sessions/done/events", "after"),
        ("/v1/sessions/done/events", "limit"),
        ("/v1/sessions/done/stream", "after"),
        ("/v1/sessions/done/replay", "from"),
        ("/v1/sessions/done/replay", "to"),
        (f"/r/{api.token}/events", "after"),
        (f"/r/{api.token}/events", "limit"),
        (f"/r/{api.token}/stream", "after"),
        (f"/r/{api.token}/replay", "from"),
        (f"/r/{api.token}/replay", "to"),
    ]
    wrong: list[str] = []
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for path, name in targets:
            for value in BAD_WHOLE_NUMBERS:
                wrong += refusals(client, "GET", path, name, params={name: value})
    assert not wrong, "\n".join(wrong)


def test_seq_headers_are_read_strictly(api: Api) -> None:
    wrong: list[str] = []
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for value in BAD_HEADER_SEQS:
            for path in (
                "/v1/sessions/done/stream",
                "/v1/sessions/done/replay",
                f"/r/{api.token}/stream",
                f"/r/{api.token}/replay",
            ):
                if value == b"7.5" and path.endswith("/replay"):
                    continue  # a replay frame's id: tests/formats/test_frame_ids.py
                wrong += refusals(
                    client, "GET", path, "Last-Event-ID", headers={"Last-Event-ID": value}
                )
            wrong += refusals(
                client,
                "POST",
                "/v1/sessions/other/events",
                "If-Match",
                headers={"If-Match": value},
                json={"type": "status", "data": {"label": "x"}},
            )
        # Nothing was appended by any refused request.
        assert client.get("/v1/sessions/other").status_code == 404
    assert not wrong, "\n".join(wrong)


def test_numbers_in_queries_are_read_strictly(api: Api) -> None:
    wrong: list[str] = []
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for path in ("/v1/sessions/done/replay", f"/r/{api.token}/replay"):
            for value in BAD_NUMBERS:
                wrong += refusals(client, "GET", path, "max_gap_ms", params={"max_gap_ms": value})
            for value in [*BAD_NUMBERS, "0", "0.0", "-0"]:
                response = client.get(path, params={"speed": value})
                if response.status_code != 422 or "speed=" not in response.json()["detail"]:
                    wrong.append(f"speed={value[:20]!r}: {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_well_formed_numbers_are_accepted(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as client:
        page = client.get("/v1/sessions/done/events", params={"after": "001", "limit": "1"})
        assert page.status_code == 200, page.text
        assert [e["seq"] for e in page.json()["events"]] == [2]
        for headers in ({"Last-Event-ID": "1"}, {"Last-Event-ID": '"1"'}):
            tail = client.get("/v1/sessions/done/stream", headers=headers)
            assert tail.status_code == 200, tail.text
            assert "event: final" in tail.text
        # The largest seq there can be is a cursor past the end: nothing follows.
        end = client.get("/v1/sessions/done/stream", headers={"Last-Event-ID": str(2**63 - 1)})
        assert end.status_code == 204
        replay = client.get(
            "/v1/sessions/done/replay", params={"speed": "1e3", "max_gap_ms": "2.5e1"}
        )
        assert replay.status_code == 200
        assert "replay.end" in replay.text
        event = {"type": "status", "data": {"label": "x"}}
        first = client.post("/v1/sessions/fresh/events", headers={"If-Match": "0"}, json=event)
        assert first.json()["seqs"] == [1]
        second = client.post("/v1/sessions/fresh/events", headers={"If-Match": '"1"'}, json=event)
        assert second.json()["seqs"] == [2]


def test_session_list_cursors(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for name in ("a", "b", "c"):
            client.post("/v1/sessions", json={"id": name}).raise_for_status()
        first = client.get("/v1/sessions", params={"limit": "2"}).json()
        cursor = first["next_cursor"]
        rest = client.get("/v1/sessions", params={"limit": "10", "cursor": cursor}).json()
        listed = [s["id"] for s in first["sessions"] + rest["sessions"]]
        assert sorted(listed) == ["a", "b", "c", "done"]
        for bad in ("", "abc", "1.", ".a", "1" * 19 + ".a", "-1.a", "1.a\x00b", " 1.a"):
            response = client.get("/v1/sessions", params={"cursor": bad})
            assert response.status_code == 422, (bad, response.text)
            assert "cursor" in response.json()["detail"]
        # Any position of the documented form is a place in the order, even one
        # no page ended at: after "done"'s creation time, by id.
        assert client.get("/v1/sessions", params={"cursor": "1.zzz"}).json()["sessions"] == []
        everything = client.get("/v1/sessions", params={"cursor": "999999999999999999.a"})
        assert len(everything.json()["sessions"]) == 4


def test_metadata_integers_past_64_bits_are_kept_as_floats(api: Api) -> None:
    """As in events, which orjson parses; before, POST /v1/sessions refused them."""
    with httpx.Client(base_url=api.url, timeout=10) as client:
        body = b'{"id": "wide", "metadata": {"n": 1180591620717411303424, "m": [-2e30]}}'
        created = client.post(
            "/v1/sessions", content=body, headers={"Content-Type": "application/json"}
        )
        assert created.status_code == 201, created.text
        stored = orjson.loads(client.get("/v1/sessions/wide").content)["metadata"]
        assert stored == {"n": 1.1805916207174113e21, "m": [-2e30]}
        too_big = b'{"metadata": {"n": 1' + b"0" * 400 + b"}}"
        refused = client.post(
            "/v1/sessions", content=too_big, headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 422
        assert "metadata" in refused.json()["detail"]
