"""The httpx byte streams of a recorded upstream: one that plays an answer at its
deadlines (with the fault it carries), and one that records an answer as it passes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import anyio
import httpx

from replaydeck.testing.cassette import (
    Chunk,
    Exchange,
    RecordedRequest,
    RecordedResponse,
    kept_headers,
)
from replaydeck.testing.faults import Plan


def recorded_request(request: httpx.Request) -> RecordedRequest:
    return RecordedRequest(
        method=request.method,
        path=request.url.raw_path.decode("ascii"),
        content_type=request.headers.get("content-type", ""),
        body=request.content,
    )


def read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    value = timeout.get("read")
    return float(value) if value is not None else None


class InjectedDisconnect(httpx.RemoteProtocolError):
    """The connection dropped mid-body, as the `disconnect` fault asked."""


class Playback:
    """One answer as played: its deadlines, the client's read timeout, the fault's break.

    A wait longer than the client's read timeout ends in `httpx.ReadTimeout` once that
    timeout has passed, as on a real socket: httpx enforces its timeouts in the network
    layer, which a transport replaces."""

    def __init__(self, answer: Plan, pace: Callable[[float], float], timeout: float | None) -> None:
        self.chunks = answer.response.chunks
        self.disconnect_after = answer.disconnect_after
        self.added = answer.delay_ms / 1000
        self.pace = pace
        self.timeout = timeout

    def delay(self, at_ms: float) -> tuple[float, bool]:
        wait = max(0.0, self.pace(at_ms) + self.added - time.monotonic())
        if self.timeout is not None and wait > self.timeout:
            return self.timeout, True
        return wait, False

    def wait(self, at_ms: float, *, sleep: Callable[[float], None]) -> None:
        wait, times_out = self.delay(at_ms)
        sleep(wait)
        if times_out:
            raise httpx.ReadTimeout(f"no byte within the read timeout of {self.timeout} s")

    async def await_(self, at_ms: float) -> None:
        wait, times_out = self.delay(at_ms)
        await anyio.sleep(wait)
        if times_out:
            raise httpx.ReadTimeout(f"no byte within the read timeout of {self.timeout} s")

    def played(self) -> tuple[Chunk, ...]:
        return (
            self.chunks if self.disconnect_after is None else self.chunks[: self.disconnect_after]
        )

    def end(self) -> None:
        if self.disconnect_after is not None:
            raise InjectedDisconnect(
                "peer closed connection without sending complete message body "
                "(a disconnect injected by the recorded upstream)"
            )


class SyncPlayback(httpx.SyncByteStream):
    def __init__(self, playback: Playback) -> None:
        self.playback = playback

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.playback.played():
            self.playback.wait(chunk.at_ms, sleep=time.sleep)
            yield chunk.data
        self.playback.end()


class AsyncPlayback(httpx.AsyncByteStream):
    def __init__(self, playback: Playback) -> None:
        self.playback = playback

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.playback.played():
            await self.playback.await_(chunk.at_ms)
            yield chunk.data
        self.playback.end()


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
