"""Slowloris and limits: trickling clients do not starve others; oversize is refused early.

A real uvicorn with replaydeck's bounded httptools protocol, attacked over raw
sockets. "Without reading past the limit" is shown by sending only just past
the limit and then nothing: the refusal must come anyway, so the server never
waited for (or buffered) the rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import h11
import httpx
import orjson
import pytest

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from replaydeck.web.http_limits import bounded_protocol
from tests.reliability.procs import ServerProcess
from tests.reliability.soak import size
from tests.servers import RunningServer, serve

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
HEAD_TIMEOUT = 2.0
TRICKLERS = size(100, 1000)

pytestmark = pytest.mark.anyio


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[RunningServer]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/limits.db",
        max_request_bytes=MAX_BODY,
        max_event_bytes=8 * 1024,
    )
    protocol = bounded_protocol(max_head_bytes=MAX_HEAD, head_timeout=HEAD_TIMEOUT)
    with serve(create_app(settings), http=protocol) as running:
        yield running


async def response_of(stream: anyio.abc.SocketStream) -> tuple[int, bytes]:
    """Read one response (status, body) with h11."""
    http = h11.Connection(h11.CLIENT)
    http.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    status, body = 0, b""
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            try:
                http.receive_data(await stream.receive())
            except anyio.EndOfStream:
                http.receive_data(b"")
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status, body


def problem_slug(body: bytes) -> str:
    slug: str = orjson.loads(body)["type"].rsplit(":", 1)[-1]
    return slug


async def test_oversized_head_refused_after_the_limit(limited: RunningServer) -> None:
    async with await anyio.connect_tcp("127.0.0.1", limited.port) as stream:
        await stream.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        # Just past the limit, never finished: the 431 must not wait for more.
        await stream.send(b"X-Big: " + b"a" * MAX_HEAD + b"\r\n")
        with anyio.fail_after(HEAD_TIMEOUT / 2):
            status, body = await response_of(stream)
    assert status == 431
    assert problem_slug(body) == "headers-too-large"
    # Headers under the limit are fine.
    async with httpx.AsyncClient(base_url=limited.url) as client:
        response = await client.get("/healthz", headers={"X-Big": "a" * (MAX_HEAD - 2048)})
    assert response.status_code == 200


async def test_declared_oversized_body_refused_before_it_is_sent(limited: RunningServer) -> None:
    async with await anyio.connect_tcp("127.0.0.1", limited.port) as stream:
        await stream.send(
            b"POST /v1/sessions/big/events HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        )
        with anyio.fail_after(5):
            status, body = await response_of(stream)
    assert status == 413
    assert problem_slug(body) == "payload-too-large"
    assert b"REPLAYDECK_MAX_REQUEST_BYTES" in body


async def test_chunked_body_refused_just_past_the_limit(limited: RunningServer) -> None:
    line = orjson.dumps({"type": "status", "data": {"label": "x" * 900}}) + b"\n"
    body = line * (MAX_BODY // len(line) + 1)
    async with await anyio.connect_tcp("127.0.0.1", limited.port) as stream:
        await stream.send(
            b"POST /v1/sessions/big/events HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"%x\r\n%s\r\n" % (len(body), body)
        )
        # No terminating chunk: the request never ends, yet it is refused.
        with anyio.fail_after(5):
            status, answer = await response_of(stream)
    assert status == 413
    assert problem_slug(answer) == "payload-too-large"
    async with httpx.AsyncClient(base_url=limited.url) as client:
        assert (await client.get("/v1/sessions/big")).status_code == 404


async def test_oversized_event_refused(limited: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=limited.url) as client:
        response = await client.post(
            "/v1/sessions/big/events", json={"type": "status", "data": {"label": "x" * 9000}}
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def trickle_head(port: int, closed: list[tuple[float, int]]) -> None:
    """Send a request head one byte at a time, forever; record when and how it ends."""
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 10_000
    started = time.monotonic()
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:

        async def send_slowly() -> None:
            for byte in head:
                await stream.send(bytes([byte]))
                await anyio.sleep(0.2)  # ok: the slowloris pace is the attack itself

        async with anyio.create_task_group() as group:
            # Reading all along, as a real client would, so the 408 is seen as it
            # arrives rather than lost to the reset our next write would cause.
            group.start_soon(send_slowly)
            status, _ = await response_of(stream)
            group.cancel_scope.cancel()
    closed.append((time.monotonic() - started, status))


async def test_slowloris_heads_do_not_starve_others_and_are_cut(limited: RunningServer) -> None:
    closed: list[tuple[float, int]] = []
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=limited.url, timeout=10) as client:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for _ in range(TRICKLERS):
                    group.start_soon(trickle_head, limited.port, closed)
                for n in range(40):
                    started = time.monotonic()
                    response = await client.post(
                        "/v1/sessions/fast/events",
                        json={"type": "status", "data": {"label": str(n)}},
                    )
                    assert response.status_code == 200
                    latencies.append(time.monotonic() - started)
    assert len(closed) == TRICKLERS
    assert {status for _, status in closed} == {408}
    # The issue asks that others are not starved: a bound, generous for 2 shared cores.
    assert max(latencies) < 2.0, max(latencies)
    slowest_cut = max(t for t, _ in closed)
    print(
        f"\n[slowloris] {TRICKLERS} trickling heads: 40 appends beside them, max "
        f"{max(latencies) * 1000:.0f} ms; all cut with 408 by {slowest_cut:.1f} s "
        f"(head timeout {HEAD_TIMEOUT} s)"
    )


async def trickle_body(port: int, session: str, lines: int, statuses: list[int]) -> None:
    """Stream an NDJSON body slowly; a legitimate streaming producer looks like this."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(
            b"POST /v1/sessions/%s/events HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
            % session.encode()
        )
        for n in range(lines):
            line = orjson.dumps({"type": "status", "data": {"label": f"slow {n}"}}) + b"\n"
            await stream.send(b"%x\r\n%s\r\n" % (len(line), line))
            await anyio.sleep(0.1)  # ok: a slow producer's pace is what is tested
        await stream.send(b"0\r\n\r\n")
        status, _ = await response_of(stream)
        statuses.append(status)


async def test_trickling_bodies_do_not_block_appends(limited: RunningServer) -> None:
    statuses: list[int] = []
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=limited.url, timeout=10) as client:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for _ in range(size(50, 500)):
                    group.start_soon(trickle_body, limited.port, "shared", 20, statuses)
                for n in range(40):
                    started = time.monotonic()
                    response = await client.post(
                        "/v1/sessions/shared/events",
                        json={"type": "status", "data": {"label": f"fast {n}"}},
                    )
                    assert response.status_code == 200
                    latencies.append(time.monotonic() - started)
        log = (await client.get("/v1/sessions/shared")).json()
    assert statuses == [200] * size(50, 500)
    assert log["last_seq"] == 40 + 20 * size(50, 500)
    assert max(latencies) < 2.0, max(latencies)
    print(f"\n[trickle] appends beside slow NDJSON bodies: max {max(latencies) * 1000:.0f} ms")


async def test_replaydeck_serve_bounds_the_head(tmp_path: Path) -> None:
    """The real command uses the bounded protocol (plain httptools took a 20 MB header)."""
    server = ServerProcess(f"sqlite+aiosqlite:///{tmp_path}/serve.db", tmp_path / "serve.log")
    server.start()
    try:
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
            await stream.send(b"a" * (64 * 1024 + 1))
            with anyio.fail_after(5):
                status, body = await response_of(stream)
    finally:
        server.stop()
    assert status == 431
    assert b"65536 bytes (REPLAYDECK_MAX_HEADER_BYTES)" in body


@pytest.fixture(scope="module")
def replaydeck_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One `replaydeck serve` with the default limits, for the raw-socket tests below."""
    root = tmp_path_factory.mktemp("serve")
    server = ServerProcess(f"sqlite+aiosqlite:///{root}/serve.db", root / "serve.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


DEFAULT_HEAD = 64 * 1024


def head_of(size: int, target: bytes = b"/healthz") -> bytes:
    """A GET whose request line and headers are exactly `size` bytes."""
    start = b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nX-Pad: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


async def statuses_of(port: int, data: bytes, *, writes: int = 1) -> list[tuple[int, bytes]]:
    """Send `data` in `writes` pieces; every response the server sends until it closes."""
    answers: list[tuple[int, bytes]] = []
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        piece = -(-len(data) // writes)
        for offset in range(0, len(data), piece):
            await stream.send(data[offset : offset + piece])
        await stream.send_eof()
        http = h11.Connection(h11.CLIENT)
        http.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        http.send(h11.EndOfMessage())
        status, body = 0, b""
        with anyio.fail_after(10):
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    try:
                        http.receive_data(await stream.receive())
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        if status == 0:
                            return answers  # closed between responses
                        http.receive_data(b"")
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    answers.append((status, body))
                    status, body = 0, b""
                    if http.their_state is h11.MUST_CLOSE:
                        return answers
                    # Another response may follow on this connection (pipelining).
                    http.start_next_cycle()
                    http.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
                    http.send(h11.EndOfMessage())


async def test_the_head_limit_is_exact_in_one_write_or_many(
    replaydeck_serve: ServerProcess,
) -> None:
    """A head of 100 KB in one write was served: the limit counted only heads that trickled."""
    cases = [(total, writes) for total in (DEFAULT_HEAD, DEFAULT_HEAD + 1) for writes in (1, 2, 7)]
    for total, writes in [*cases, (100_000, 1)]:
        answers = await statuses_of(replaydeck_serve.port, head_of(total), writes=writes)
        expected = 200 if total <= DEFAULT_HEAD else 431
        assert [status for status, _ in answers] == [expected], (total, writes)
        if expected == 431:
            assert problem_slug(answers[0][1]) == "headers-too-large"


async def test_every_head_on_a_connection_is_held_to_the_limit(
    replaydeck_serve: ServerProcess,
) -> None:
    # Keep-alive: the second request's head is measured from its own first byte.
    async with await anyio.connect_tcp("127.0.0.1", replaydeck_serve.port) as stream:
        await stream.send(head_of(DEFAULT_HEAD))
        with anyio.fail_after(5):
            status, _ = await response_of(stream)
    assert status == 200
    keep_alive = head_of(DEFAULT_HEAD) + head_of(DEFAULT_HEAD + 1)
    answers = await statuses_of(replaydeck_serve.port, keep_alive, writes=2)
    assert [status for status, _ in answers] == [200, 431]
    # Pipelined in one write behind a small request: refused as well.
    small = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    answers = await statuses_of(replaydeck_serve.port, small + head_of(100_000))
    assert [status for status, _ in answers][-1] == 431
    assert problem_slug(answers[-1][1]) == "headers-too-large"


MALFORMED = [
    # A URL past the limit is part of the head.
    (
        b"GET /healthz?" + b"a" * 66_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
        431,
        "65536 bytes",
    ),
    (
        b"POST /v1/sessions/s/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "Transfer-Encoding",
    ),
    (
        b"POST /v1/sessions/s/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n",
        400,
        "Content-Length",
    ),
    (
        b"POST /v1/sessions/s/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}",
        400,
        "Content-Length",
    ),
    (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n", 400, "header value"),
    (b"GET /h\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "url"),
    (b"GET /healthz HTTP/1.1\nHost: localhost\n\n", 400, "CRLF"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 50, 400, "method"),
]


@pytest.mark.parametrize(("request_bytes", "status", "reason"), MALFORMED)
async def test_malformed_heads_get_a_problem(
    replaydeck_serve: ServerProcess, request_bytes: bytes, status: int, reason: str
) -> None:
    """uvicorn answered these with a text/plain 400 "Invalid HTTP request received."."""
    async with await anyio.connect_tcp("127.0.0.1", replaydeck_serve.port) as stream:
        await stream.send(request_bytes)
        with anyio.fail_after(5):
            got, body = await response_of(stream)
    assert got == status
    problem = orjson.loads(body)
    assert problem["status"] == status
    assert reason in problem["detail"], problem["detail"]
    # The server goes on serving.
    async with httpx.AsyncClient(base_url=replaydeck_serve.url) as client:
        assert (await client.get("/healthz")).status_code == 200
