"""``RecordedUpstream``: an httpx transport that plays a recorded upstream's own bytes.

    upstream = RecordedUpstream("tests/upstreams/test_agent.json", mode="once")
    client = OpenAI(http_client=httpx.Client(transport=upstream))

It is both an ``httpx.BaseTransport`` and an ``httpx.AsyncBaseTransport``, for any
method and path. Each request is answered by one recorded exchange (cassette.py):
the recorded status, headers and body chunks, byte for byte, at the recorded timing
divided by ``speed`` (``"max"``, the default, waits for nothing).

Record modes, as pytest-recording's (vcrpy's):

- ``none``: play only; a request with no recorded exchange is refused and nothing
  reaches the network (no connection is ever opened);
- ``once``: play the file when it exists (as ``none``); when it does not, send every
  request to the real upstream and write what it answered;
- ``new_episodes``: play what is recorded, record what is not, and add it to the file;
- ``rewrite``: ignore the file, record everything afresh.

Recording sends the request to its own URL, through httpx's own transport, and keeps
the response's bytes as the socket delivered them (before any decoding).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx

from replaydeck.replay.pacing import Pacer
from replaydeck.testing.cassette import (
    BodyMatcher,
    Cassette,
    Chunk,
    Exchange,
    Playlist,
    RecordedRequest,
    RecordedResponse,
    UnrecordedRequest,
    kept_headers,
)
from replaydeck.testing.playback import parse_speed

MODES = ("none", "once", "new_episodes", "rewrite")
MODE_FLAG = "--upstream-record-mode"


class RecordedUpstream(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A recorded upstream as an httpx transport (sync and async); see the module doc."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        mode: str = "none",
        match: str = "order",
        body: BodyMatcher | None = None,
        speed: float | str = "max",
        exchanges: list[Exchange] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"record mode {mode!r} is not known; use one of {', '.join(MODES)}")
        self.path = Path(path) if path is not None else None
        self.mode = mode
        self.speed = parse_speed(speed)
        existed = self.path is not None and self.path.is_file()
        recorded: list[Exchange] = list(exchanges or [])
        if existed and mode != "rewrite" and self.path is not None:
            recorded += Cassette.load(self.path).exchanges
        self.playlist = Playlist(recorded, match=match, body=body)
        self.records = mode in ("new_episodes", "rewrite") or (mode == "once" and not existed)
        # Requests refused for want of a recording; the pytest fixture fails the test on them.
        self.refused: list[str] = []
        self.new: list[Exchange] = []
        self._lock = threading.Lock()

    # -- playing ----------------------------------------------------------------------

    def _find(self, request: httpx.Request) -> Exchange | None:
        sent = recorded_request(request)
        with self._lock:
            exchange = self.playlist.take(sent)
            if exchange is not None or self.records:
                return exchange
            reason = self.playlist.explain(sent)
            self.refused.append(reason)
        where = f" in {self.path}" if self.path is not None else ""
        raise UnrecordedRequest(
            f"no recorded exchange{where} answers {reason}; record mode {self.mode!r} "
            f"sends nothing to the network (record with {MODE_FLAG}=once, "
            "new_episodes or rewrite)"
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        exchange = self._find(request)
        if exchange is None:
            return self._record(request)
        pace = self._pacing()
        time.sleep(max(0.0, pace(exchange.response.at_ms) - time.monotonic()))
        return _response(exchange.response, SyncPlayback(exchange.response.chunks, pace))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        exchange = self._find(request)
        if exchange is None:
            return await self._arecord(request)
        pace = self._pacing()
        await anyio.sleep(max(0.0, pace(exchange.response.at_ms) - time.monotonic()))
        return _response(exchange.response, AsyncPlayback(exchange.response.chunks, pace))

    def _pacing(self) -> Callable[[float], float]:
        """Recorded milliseconds → a monotonic deadline, from this request on."""
        pacer = Pacer(start=time.monotonic(), speed=self.speed)
        pacer.due(0)
        return lambda at_ms: pacer.due(round(at_ms * 1000))

    # -- recording --------------------------------------------------------------------

    # A connection of its own per recorded request, closed with its response: the
    # transport may serve several event loops (a test's and the real-port server's),
    # and a pool belongs to one. Recording is rare, so nothing is lost by not pooling.

    def _record(self, request: httpx.Request) -> httpx.Response:
        network = httpx.HTTPTransport()
        started = time.monotonic()
        try:
            response = network.handle_request(request)
        except BaseException:
            network.close()
            raise
        tape = Tape(request, response, started, self._keep)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return _response_like(response, SyncTee(response.stream, tape, network.close))

    async def _arecord(self, request: httpx.Request) -> httpx.Response:
        network = httpx.AsyncHTTPTransport()
        started = time.monotonic()
        try:
            response = await network.handle_async_request(request)
        except BaseException:
            await network.aclose()
            raise
        tape = Tape(request, response, started, self._keep)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return _response_like(response, AsyncTee(response.stream, tape, network.aclose))

    def _keep(self, exchange: Exchange) -> None:
        with self._lock:
            self.playlist.add(exchange)
            self.new.append(exchange)

    # -- the file ---------------------------------------------------------------------

    def save(self) -> bool:
        """Write the file when this run recorded something; True when it did."""
        if not self.new or self.path is None:
            return False
        Cassette(list(self.playlist.exchanges)).save(self.path)
        return True

    # An httpx client closes its transport on exit: what it recorded is written then.

    def close(self) -> None:
        self.save()

    async def aclose(self) -> None:
        self.save()


def recorded_request(request: httpx.Request) -> RecordedRequest:
    return RecordedRequest(
        method=request.method,
        path=request.url.raw_path.decode("ascii"),
        content_type=request.headers.get("content-type", ""),
        body=request.content,
    )


def _response(recorded: RecordedResponse, stream: Any) -> httpx.Response:
    return httpx.Response(recorded.status, headers=list(recorded.headers), stream=stream)


def _response_like(response: httpx.Response, stream: Any) -> httpx.Response:
    return httpx.Response(
        response.status_code,
        headers=response.headers.raw,
        stream=stream,
        extensions=response.extensions,
    )


class SyncPlayback(httpx.SyncByteStream):
    def __init__(self, chunks: tuple[Chunk, ...], pace: Callable[[float], float]) -> None:
        self.chunks = chunks
        self.pace = pace

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            time.sleep(max(0.0, self.pace(chunk.at_ms) - time.monotonic()))
            yield chunk.data


class AsyncPlayback(httpx.AsyncByteStream):
    def __init__(self, chunks: tuple[Chunk, ...], pace: Callable[[float], float]) -> None:
        self.chunks = chunks
        self.pace = pace

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            await anyio.sleep(max(0.0, self.pace(chunk.at_ms) - time.monotonic()))
            yield chunk.data


class Tape:
    """One exchange as it is recorded: the request, the response's head, its chunks."""

    def __init__(
        self,
        request: httpx.Request,
        response: httpx.Response,
        started: float,
        keep: Callable[[Exchange], None],
    ) -> None:
        self.request = recorded_request(request)
        self.status = response.status_code
        self.headers = kept_headers(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
        )
        self.started = started
        self.at_ms = self.elapsed_ms()
        self.chunks: list[Chunk] = []
        self.keep = keep
        self.done = False

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def add(self, data: bytes) -> None:
        if data:
            self.chunks.append(Chunk(self.elapsed_ms(), data))

    def finish(self) -> None:
        # Kept once the client is done with the body, read whole or not: a client
        # that stopped reading early saw only these bytes.
        if not self.done:
            self.done = True
            response = RecordedResponse(self.status, self.headers, self.at_ms, tuple(self.chunks))
            self.keep(Exchange(self.request, response))


class SyncTee(httpx.SyncByteStream):
    def __init__(
        self, inner: httpx.SyncByteStream, tape: Tape, close_network: Callable[[], None]
    ) -> None:
        self.inner = inner
        self.tape = tape
        self.close_network = close_network

    def __iter__(self) -> Iterator[bytes]:
        for data in self.inner:
            self.tape.add(data)
            yield data

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.tape.finish()
            self.close_network()


class AsyncTee(httpx.AsyncByteStream):
    def __init__(
        self,
        inner: httpx.AsyncByteStream,
        tape: Tape,
        close_network: Callable[[], Awaitable[None]],
    ) -> None:
        self.inner = inner
        self.tape = tape
        self.close_network = close_network

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for data in self.inner:
            self.tape.add(data)
            yield data

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.tape.finish()
            await self.close_network()
