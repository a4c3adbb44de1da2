"""The recording proxy in front of a real Node.js SSE app, recording into a real
replaydeck: no buffering, faithful recordings and replays, cancellation, pass-through."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from replaydeck.capture.proxy import ProxyApp
from replaydeck.capture.sdk import Recorder
from replaydeck.formats import make_decoder
from replaydeck.formats.sse import SSEFrame, SSEParser, parse_all
from tests.capture.helpers import node_app, recorded, serve_asgi
from tests.servers import RunningServer, wait_until

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def node() -> Iterator[str]:
    with node_app() as url:
        yield url


@pytest.fixture
def proxy(node: str, server: RunningServer) -> Iterator[str]:
    recorder = Recorder(server.url, linger=0.005)
    # As `replaydeck proxy` runs it: the proxy is the edge, not behind another proxy.
    with serve_asgi(ProxyApp(node, recorder, session_idle=0.2), proxy_headers=False) as url:
        yield url


def frames_of(response: httpx.Response) -> Iterator[tuple[SSEFrame, float]]:
    """Frames as they arrive, each with its arrival time in epoch ms."""
    parser = SSEParser()
    for chunk in response.iter_raw():
        arrived = time.time() * 1000
        for frame in parser.feed(chunk):
            yield frame, arrived


def as_json(frames: list[SSEFrame]) -> list[tuple[str | None, Any]]:
    def value(data: str) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            return data

    return [(f.event, value(f.data)) for f in frames]


def test_each_event_reaches_the_client_before_the_app_sends_the_next(
    node: str, proxy: str, server: RunningServer
) -> None:
    # The app waits for /next before each further event: any buffering in the proxy
    # would leave the client waiting for bytes that never come (a read timeout).
    seen: list[SSEFrame] = []
    gaps: list[float] = []
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", f"{proxy}/gated", params={"name": "g1", "n": 3}) as response,
    ):
        assert response.headers["x-accel-buffering"] == "no"
        session_id = response.headers["x-replaydeck-session"]
        for frame, arrived in frames_of(response):
            seen.append(frame)
            if frame.event == "message.delta":
                gaps.append(arrived - json.loads(frame.data)["sent_at"])
                assert client.post(f"{node}/next", params={"name": "g1"}).status_code == 204
    assert [f.event for f in seen] == [*["message.delta"] * 3, None, "final"]
    # Same machine, so the clocks agree; a buffering proxy shows up as the read timeout
    # above, this bound only catches gross delays.
    assert max(gaps) < 500, gaps

    # The recording holds exactly what the client saw, decoded by the plain-SSE rules.
    decoder = make_decoder("sse")
    expected = [(e.type, e.data) for f in seen for e in decoder.decode(f)]
    events = recorded(server.url, session_id)
    assert [(e["type"], e["data"]) for e in events] == expected
    replay = httpx.get(
        f"{server.url}/v1/sessions/{session_id}/replay",
        params={"speed": "max", "format": "sse"},
    )
    assert as_json(parse_all(replay.content)) == as_json(seen)


@pytest.mark.parametrize(
    ("file", "fmt"),
    [
        ("openai_responses.sse", "openai-responses"),
        ("openai_chat.sse", "openai-chat"),
        ("vercel_ai.sse", "vercel-ai"),
        ("ag_ui.sse", "ag-ui"),
    ],
)
def test_a_protocol_stream_is_detected_recorded_and_replayed_identically(
    proxy: str, server: RunningServer, file: str, fmt: str
) -> None:
    with httpx.stream("GET", f"{proxy}/sample", params={"file": file}, timeout=5) as response:
        session_id = response.headers["x-replaydeck-session"]
        seen = [frame for frame, _ in frames_of(response)]
    assert seen == parse_all((SAMPLES / file).read_bytes())
    events = recorded(server.url, session_id)
    # All but the end of an OpenAI call's run, which the capture writes (`turns`).
    assert {e["data"].get("raw_format") for e in events if "turns" not in e["data"]} == {fmt}
    assert "tool.call" in [e["type"] for e in events]
    # Offsets keep the app's rhythm (frames were sent a few ms apart).
    assert events[-1]["offset_ms"] > 0
    replay = httpx.get(
        f"{server.url}/v1/sessions/{session_id}/replay",
        params={"speed": "max", "format": fmt},
    )
    assert [(f.event, f.data) for f in parse_all(replay.content)] == [
        (f.event, f.data) for f in seen
    ]


def test_a_client_disconnect_closes_the_upstream_within_a_second(
    node: str, proxy: str, server: RunningServer
) -> None:
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", f"{proxy}/forever") as response,
    ):
        session_id = response.headers["x-replaydeck-session"]
        # Keep the iterator: a discarded one would close the stream (and so disconnect).
        frames = frames_of(response)
        first, _ = next(frames)
        assert json.loads(first.data)["label"] == "started"
        assert httpx.get(f"{node}/stats").json()["aborted"] == 0
        # Leaving the block closes the client's connection mid-stream.
    gone = time.time() * 1000

    wait_until(lambda: httpx.get(f"{node}/stats").json()["aborted"] == 1, timeout=1.0)
    assert httpx.get(f"{node}/stats").json()["abortedAt"][0] - gone < 1000
    events = recorded(server.url, session_id)
    assert events[0]["data"]["label"] == "started"
    assert events[-1]["type"] == "final"
    assert events[-1]["data"] == {"synthetic": True, "reason": "interrupted"}


def test_other_responses_pass_untouched(proxy: str) -> None:
    body = bytes(range(256)) * 40
    response = httpx.post(
        f"{proxy}/echo?a=1&b=%20x",
        content=body,
        headers={
            "content-type": "application/x-thing",
            "accept-encoding": "identity",
            "x-forwarded-for": "203.0.113.9",
        },
    )
    assert response.status_code == 201
    assert response.content == body
    assert response.headers["content-type"] == "application/x-thing"
    assert response.headers["x-echo-method"] == "POST"
    assert response.headers["x-echo-query"] == "?a=1&b=%20x"
    assert response.headers["x-echo-accept-encoding"] == "identity"
    assert response.headers["x-echo-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert "x-replaydeck-session" not in response.headers
    assert "x-accel-buffering" not in response.headers
    missing = httpx.get(f"{proxy}/nowhere")
    assert (missing.status_code, missing.text) == (404, "no such route\n")


def test_a_head_request_is_passed_on_and_not_recorded(proxy: str) -> None:
    response = httpx.head(f"{proxy}/first")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert "x-replaydeck-session" not in response.headers


def test_the_session_id_can_come_from_the_client(proxy: str, node: str) -> None:
    with httpx.stream(
        "GET", f"{proxy}/first", headers={"X-Replaydeck-Session": "chosen-1"}, timeout=5
    ) as response:
        assert response.headers["x-replaydeck-session"] == "chosen-1"
        response.read()


def test_a_request_header_chooses_the_format_for_its_session(
    proxy: str, server: RunningServer
) -> None:
    headers = {"X-Replaydeck-Format": "sse", "X-Replaydeck-Session": "as-plain-sse"}
    url = f"{proxy}/sample?file=ag_ui.sse"
    with httpx.stream("GET", url, headers=headers, timeout=5) as response:
        response.read()
    types = {e["type"] for e in recorded(server.url, "as-plain-sse")}
    # Not detected as AG-UI: every unnamed frame is plain `sse.message`; the client's
    # own id makes the stream a turn of a run that ends once idle.
    assert types == {"sse.message", "turn.end", "final"}


def test_an_unreachable_upstream_is_a_502_problem(server: RunningServer) -> None:
    recorder = Recorder(server.url)
    with serve_asgi(ProxyApp("http://127.0.0.1:9", recorder)) as url:
        response = httpx.get(f"{url}/anything")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "did not answer" in response.json()["detail"]
