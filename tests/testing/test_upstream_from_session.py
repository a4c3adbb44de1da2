"""A session captured with its wire (the proxy's --record-wire) is a recorded upstream.

The weather agent talks to the stand-in LLM service through the real recording proxy,
which records into a real replaydeck. What the agent's HTTP client received is kept
too (a recording transport between the SDK and the proxy): the sessions' wire must
give back exactly those bytes, and the agent must run on them alone.
"""

from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from replaydeck.capture import wire
from replaydeck.capture.proxy import ProxyApp
from replaydeck.capture.sdk import Recorder
from replaydeck.formats.base import WIRE_TYPES
from replaydeck.testing import archive
from replaydeck.testing.cassette import Cassette
from replaydeck.testing.normalize import normalize
from replaydeck.testing.upstream import RecordedUpstream
from tests.capture.helpers import serve_asgi
from tests.capture.test_capture_proxy import recorded
from tests.examples.agent import run_turn
from tests.examples.llm import llm_app
from tests.servers import RunningServer, serve

QUESTION = "What's the weather in Paris?"


def test_sessions_recorded_with_their_wire_play_the_upstream_back(
    server: RunningServer, tmp_path: Path
) -> None:
    received = tmp_path / "received.json"
    with serve(llm_app()) as llm:  # type: ignore[arg-type]
        recorder = Recorder(server.url, linger=0.005)
        proxy = ProxyApp(llm.url, recorder, record_wire=True)
        with serve_asgi(proxy, proxy_headers=False) as url:
            tap = RecordedUpstream(received, mode="rewrite")
            client = OpenAI(
                base_url=f"{url}/v1", api_key="sk-test", http_client=httpx.Client(transport=tap)
            )
            live = list(run_turn(client, QUESTION))
            tap.close()
    seen = Cassette.load(received).exchanges
    ids = [dict(e.response.headers)["x-replaydeck-session"] for e in seen]
    sessions = [recorded(server.url, session_id) for session_id in ids]

    # Each session's wire is the exchange the client saw: request, status, headers, bytes.
    exchanges = [Cassette.from_events(events).exchanges[0] for events in sessions]
    for captured, client_saw in zip(exchanges, seen, strict=True):
        assert captured.request == client_saw.request
        assert captured.response.status == client_saw.response.status == 200
        assert captured.response.body == client_saw.response.body
        assert dict(captured.response.headers)["content-type"].startswith("text/event-stream")
        assert captured.response.chunks[-1].at_ms > captured.response.at_ms > 0
    # The parsed events are there as before; golden forms leave the wire out.
    assert {"http.request", "http.response", "http.chunk", "tool.call"} <= {
        e["type"] for e in sessions[0]
    }
    assert not {"http.request", "http.chunk"} & {e["type"] for e in normalize(sessions[0])}

    # Export files are enough: one archive per session, played in the turn's order.
    files = []
    for number, events in enumerate(sessions):
        files.append(tmp_path / f"turn-{number}.ndjson")
        with files[-1].open("wb") as out:
            archive.write(out, {"id": ids[number]}, events)
    played = [e for file in files for e in Cassette.load(file).exchanges]
    upstream = RecordedUpstream(exchanges=played)
    client = OpenAI(
        base_url="http://llm.invalid/v1",
        api_key="sk-test",
        http_client=httpx.Client(transport=upstream),
    )
    assert normalize(run_turn(client, QUESTION)) == normalize(live)
    assert not upstream.playlist.unplayed()


def test_a_session_without_its_wire_says_how_to_record_one() -> None:
    events = [{"seq": 1, "type": "message.delta", "data": {"text": "hi"}, "offset_ms": 0.0}]
    with pytest.raises(ValueError, match=r"s1 holds no http\.request event") as refused:
        Cassette.from_events(events, source="s1")
    assert "replaydeck proxy --record-wire" in str(refused.value)


def test_the_wire_event_types_are_the_ones_formats_and_goldens_leave_out() -> None:
    assert {wire.REQUEST, wire.RESPONSE, wire.CHUNK} == WIRE_TYPES
