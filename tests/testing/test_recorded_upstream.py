"""RecordedUpstream: a recorded upstream's own bytes, played to httpx clients."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI

from replaydeck.testing.cassette import (
    Cassette,
    Chunk,
    Exchange,
    RecordedRequest,
    RecordedResponse,
    UnrecordedRequest,
)
from replaydeck.testing.upstream import RecordedUpstream
from replaydeck.testing.upstream_server import serve_upstream
from tests.examples.llm import llm_app
from tests.servers import RunningServer, serve

# Odd but legal framing, split where a socket might split it: CRLF line ends, a
# comment, two events in one chunk, a UTF-8 character cut in two.
BODY_CHUNKS = [
    b": warming up\r\n\r\n",
    b"event: a\r\ndata: 1\r\n\r\ndata: 2\n",
    b"\ndata: caf\xc3",
    b"\xa9\n\n",
]


async def raw_upstream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    status = 201 if scope["method"] == "PUT" else 200
    headers = [(b"content-type", b"text/event-stream"), (b"x-upstream", scope["path"].encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    for data in BODY_CHUNKS:
        await send({"type": "http.response.body", "body": data, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


@pytest.fixture
def upstream_server() -> Iterator[RunningServer]:
    with serve(raw_upstream) as running:  # type: ignore[arg-type]
        yield running


def exchange(method: str, path: str, *chunks: tuple[float, bytes], body: bytes = b"") -> Exchange:
    return Exchange(
        RecordedRequest(method, path, "application/json" if body else "", body),
        RecordedResponse(
            200,
            (("content-type", "text/plain"),),
            at_ms=0.0,
            chunks=tuple(Chunk(at, data) for at, data in chunks),
        ),
    )


def test_plays_the_recorded_bytes_for_any_method_and_path(
    upstream_server: RunningServer, tmp_path: Path
) -> None:
    cassette = tmp_path / "upstream.json"
    requests = [("PUT", "/v1/things/1?x=1"), ("DELETE", "/v1/things/1"), ("GET", "/stream")]
    recorder = RecordedUpstream(cassette, mode="rewrite")
    with httpx.Client(transport=recorder, base_url=upstream_server.url) as client:
        for method, path in requests:
            client.request(method, path).read()
    assert cassette.is_file()
    recorded = Cassette.load(cassette).exchanges
    assert [e.describe() for e in recorded] == [f"{m} {p}" for m, p in requests]

    player = RecordedUpstream(cassette)  # mode "none": no network
    with httpx.Client(transport=player, base_url="http://upstream.invalid") as client:
        for (method, path), original in zip(requests, recorded, strict=True):
            with client.stream(method, path) as response:
                chunks = list(response.iter_raw())
            assert response.status_code == (201 if method == "PUT" else 200)
            assert response.headers["content-type"] == "text/event-stream"
            assert response.headers["x-upstream"] == path.split("?")[0]
            assert b"".join(chunks) == b"".join(BODY_CHUNKS)
            assert chunks == [chunk.data for chunk in original.response.chunks]


def test_requests_take_the_exchanges_in_recorded_order() -> None:
    recorded = [exchange("POST", "/a", (0, b"A")), exchange("POST", "/b", (0, b"B"))]
    with (
        httpx.Client(transport=RecordedUpstream(exchanges=recorded)) as client,
        pytest.raises(UnrecordedRequest, match="POST /b: the next recorded exchange is POST /a"),
    ):
        client.post("http://x/b")
    upstream = RecordedUpstream(exchanges=list(recorded))
    with httpx.Client(transport=upstream) as client:
        assert [client.post(f"http://x/{p}").text for p in "ab"] == ["A", "B"]
        with pytest.raises(UnrecordedRequest, match="all 2 recorded exchange"):
            client.post("http://x/a")
    assert len(upstream.refused) == 1


def test_match_by_request_and_a_body_predicate() -> None:
    recorded = [
        exchange("POST", "/chat", (0, b"one"), body=b'{"n": 1}'),
        exchange("POST", "/chat", (0, b"two"), body=b'{"n": 2}'),
        exchange("GET", "/models", (0, b"models")),
    ]
    upstream = RecordedUpstream(
        exchanges=recorded, match="request", body=lambda recorded, sent: recorded == sent
    )
    with httpx.Client(transport=upstream, base_url="http://x") as client:
        assert client.get("/models").text == "models"
        assert client.post("/chat", json={"n": 2}).text == "two"
        with pytest.raises(UnrecordedRequest, match="no unplayed recorded exchange matches"):
            client.post("/chat", json={"n": 3})
        assert client.post("/chat", json={"n": 1}).text == "one"


def test_mode_none_refuses_and_never_connects(tmp_path: Path) -> None:
    upstream = RecordedUpstream(tmp_path / "missing.json", mode="none")
    # A port nothing listens on: a connection attempt would fail with ConnectError.
    refusal = pytest.raises(UnrecordedRequest, match="nothing is recorded; record mode 'none'")
    with httpx.Client(transport=upstream) as client, refusal:
        client.get("http://127.0.0.1:9/v1/models")
    assert not (tmp_path / "missing.json").exists()


def test_mode_once_records_only_when_there_is_no_file(
    upstream_server: RunningServer, tmp_path: Path
) -> None:
    cassette = tmp_path / "once.json"
    with httpx.Client(transport=RecordedUpstream(cassette, mode="once")) as client:
        assert client.get(f"{upstream_server.url}/first").status_code == 200
    with httpx.Client(transport=RecordedUpstream(cassette, mode="once")) as client:
        assert client.get(f"{upstream_server.url}/first").status_code == 200
        with pytest.raises(UnrecordedRequest, match="GET /second"):
            client.get(f"{upstream_server.url}/second")
    with httpx.Client(transport=RecordedUpstream(cassette, mode="new_episodes")) as client:
        client.get(f"{upstream_server.url}/first")
        client.get(f"{upstream_server.url}/second")
    assert [e.describe() for e in Cassette.load(cassette).exchanges] == [
        "GET /first",
        "GET /second",
    ]


@pytest.mark.parametrize("speed", [1, 4, "max"])
def test_plays_at_the_recorded_speed_or_faster(speed: float | str) -> None:
    recorded = [exchange("GET", "/", (0, b"a"), (400, b"b"))]
    upstream = RecordedUpstream(exchanges=recorded, speed=speed)
    with httpx.Client(transport=upstream) as client:
        started = time.monotonic()
        with client.stream("GET", "http://x/") as response:
            arrivals = [(time.monotonic() - started, data) for data in response.iter_raw()]
    assert [data for _, data in arrivals] == [b"a", b"b"]
    # Deadlines count from the request, so the second chunk is due 400 ms / speed after it.
    second = arrivals[1][0]
    if speed == "max":
        assert second < 0.2
    else:
        assert second >= 0.4 / float(speed)


@pytest.mark.anyio
async def test_the_async_transport_serves_the_async_openai_client(tmp_path: Path) -> None:
    cassette = tmp_path / "chat.json"
    with serve(llm_app()) as llm:  # type: ignore[arg-type]
        recorder = RecordedUpstream(cassette, mode="once")
        async with AsyncOpenAI(
            base_url=f"{llm.url}/v1",
            api_key="sk-test",
            http_client=httpx.AsyncClient(transport=recorder),
        ) as client:
            live = await collect(client)
    async with AsyncOpenAI(
        base_url="http://llm.invalid/v1",
        api_key="sk-test",
        http_client=httpx.AsyncClient(transport=RecordedUpstream(cassette)),
    ) as client:
        replayed = await collect(client)
    assert replayed == live
    assert replayed[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "get_weather"


async def collect(client: AsyncOpenAI) -> list[dict[str, Any]]:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Paris?"}], stream=True
    )
    return [chunk.model_dump() async for chunk in stream]


def test_the_real_port_refuses_an_unrecorded_request(tmp_path: Path) -> None:
    upstream = RecordedUpstream(tmp_path / "none.json")
    with serve_upstream(upstream) as url:
        response = httpx.post(f"{url}/v1/chat/completions", json={"model": "m"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "POST /v1/chat/completions: nothing is recorded" in response.json()["detail"]
    assert upstream.refused == ["POST /v1/chat/completions: nothing is recorded"]


def test_the_real_port_records_through_to_the_upstream(tmp_path: Path) -> None:
    cassette = tmp_path / "port.json"
    with (
        serve(llm_app()) as llm,  # type: ignore[arg-type]
        serve_upstream(cassette, mode="rewrite", upstream=llm.url) as url,
    ):
        live = chunks_of(OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0))
    assert [e.describe() for e in Cassette.load(cassette).exchanges] == [
        "POST /v1/chat/completions"
    ]
    # Played back with the service gone, through the other door: the same chunks.
    transport = httpx.Client(transport=RecordedUpstream(cassette))
    client = OpenAI(base_url="http://llm.invalid/v1", api_key="sk-test", http_client=transport)
    assert chunks_of(client) == live


def chunks_of(client: OpenAI) -> list[dict[str, Any]]:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Paris?"}], stream=True
    )
    return [chunk.model_dump() for chunk in stream]
