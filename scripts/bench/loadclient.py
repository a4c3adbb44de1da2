"""The load client every benchmark shares, for replaydeck and its baseline alike.

It runs in the benchmark command's own process while the server under test runs
in another, so on two cores each gets one. It is hand-written on asyncio
protocols rather than httpx because a general client spends more CPU per
request than the servers it measures; `CpuMeter` shows how busy it was, so a
run can tell when the client, not the server, was the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

HOST = "127.0.0.1"
DATA_MARK = b"data: "
# The keep-alive comment DESIGN.md specifies; both servers under test send it.
PING_MARK = b": keep-alive"
# The last chunk of a chunked HTTP/1.1 body: the server ended the stream but may
# keep the connection for reuse, so the end of the body, not a close, is the end.
END_MARK = b"\r\n0\r\n\r\n"
T = TypeVar("T")
T_FIELD = re.compile(rb'"t":(\d+)')


def now_ns() -> int:
    # CLOCK_MONOTONIC is system-wide on Linux, so a stamp taken here can be
    # compared with one taken in any process on the machine.
    return time.monotonic_ns()


class CpuMeter:
    """This process's CPU seconds per wall second over a window (1.0 = one core busy)."""

    def __init__(self) -> None:
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()

    def busy(self) -> float:
        wall = time.perf_counter() - self.wall0
        return (time.process_time() - self.cpu0) / wall if wall > 0 else 0.0


# ---------------------------------------------------------------- SSE readers


class SseReader(asyncio.Protocol):
    """Counts SSE `data:` frames on one connection; a sampled one also records latency.

    Counting `data: ` with a few bytes of carry across reads is exact for frames
    whose payload never contains that marker (ours never does), and costs one
    C-level `bytes.count` per read instead of parsing every frame in Python.
    """

    def __init__(self, sample: bool, arrivals: bool = False) -> None:
        self.sample = sample
        # One monotonic stamp per frame, in order, when a benchmark needs timing.
        self.arrivals_ns: list[int] | None = [] if arrivals else None
        self.frames = 0
        self.pings = 0
        self.status = 0
        self.headers_done = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.tail = b""
        self.buffer = b""
        self.latencies_ns: list[int] = []
        self.transport: asyncio.Transport | None = None
        self.on_frames: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; cast, not assert.
        self.transport = cast(asyncio.Transport, transport)

    def body(self, data: bytes) -> bytes | None:
        """`data` past the response head; None while the head is incomplete."""
        if self.headers_done.done():
            return data
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        self.status = int(self.buffer[9:12])
        data = self.buffer[end + 4 :]
        self.buffer = b""
        self.headers_done.set_result(self.status)
        return data

    def data_received(self, data: bytes) -> None:
        body = self.body(data)
        if body is None:
            return
        data = body
        joined = self.tail + data
        new = joined.count(DATA_MARK) - self.tail.count(DATA_MARK)
        self.pings += joined.count(PING_MARK) - self.tail.count(PING_MARK)
        if END_MARK in joined and END_MARK not in self.tail:
            self.close()
        self.tail = joined[-(len(PING_MARK) - 1) :]
        if self.sample and new:
            arrived = now_ns()
            self.buffer += data
            cut = self.buffer.rfind(b"\n\n")
            if cut >= 0:
                for stamp in T_FIELD.findall(self.buffer, 0, cut):
                    self.latencies_ns.append(arrived - int(stamp))
                self.buffer = self.buffer[cut + 2 :]
        if new:
            self.frames += new
            if self.arrivals_ns is not None:
                self.arrivals_ns.extend([now_ns()] * new)
            if self.on_frames is not None:
                self.on_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.headers_done.done():
            self.headers_done.set_exception(ConnectionError("closed before headers"))
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_sse(
    port: int,
    path: str | Callable[[int], str],
    n: int,
    *,
    sample_every: int = 0,
    arrivals: bool = False,
    connect_batch: int = 200,
    limit_s: float = 120.0,
    protocol: type[SseReader] | None = None,
) -> list[SseReader]:
    """Open n SSE streams, a batch at a time so the listen backlog never overflows;
    `protocol` reads another SSE dialect (a subclass of SseReader)."""
    kind = protocol or SseReader
    loop = asyncio.get_running_loop()
    readers: list[SseReader] = []

    async def one(i: int) -> SseReader:
        sample = sample_every > 0 and i % sample_every == 0
        target = path(i) if callable(path) else path
        _, reader = await loop.create_connection(lambda: kind(sample, arrivals), HOST, port)
        assert reader.transport is not None
        reader.transport.write(sse_request(target))
        await reader.headers_done
        if reader.status != 200:
            raise RuntimeError(f"GET {target} answered {reader.status}")
        return reader

    async with asyncio.timeout(limit_s):
        for start in range(0, n, connect_batch):
            batch = range(start, min(n, start + connect_batch))
            readers += await asyncio.gather(*(one(i) for i in batch))
    return readers


def sse_request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n\r\n".encode()


async def wait_frames(readers: Sequence[SseReader], each: int, limit_s: float) -> bool:
    """Wait until every reader has seen `each` frames; False if the deadline passes first."""
    done = asyncio.Event()
    remaining = sum(1 for r in readers if r.frames < each)

    def check(reader: SseReader) -> Callable[[], None]:
        def on_frames() -> None:
            nonlocal remaining
            if reader.frames >= each and reader.on_frames is not None:
                reader.on_frames = None
                remaining -= 1
                if remaining == 0:
                    done.set()

        return on_frames

    for r in readers:
        r.on_frames = check(r) if r.frames < each else None
    if remaining == 0:
        return True
    try:
        async with asyncio.timeout(limit_s):
            await done.wait()
        return True
    except TimeoutError:
        return False
    finally:
        for r in readers:
            r.on_frames = None


# ---------------------------------------------------------------- HTTP requests


class HttpConn:
    """One keep-alive HTTP/1.1 connection for small request/response exchanges."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpConn:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        chunked = False
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return status, b"".join(p[:-2] for p in parts)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):  # already reset by the server
            await self.writer.wait_closed()


@dataclass
class LoadResult:
    latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    errors: int = 0
    client_busy: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies_s) / self.elapsed_s if self.elapsed_s else 0.0


RequestFactory = Callable[[int], tuple[str, str, bytes]]


async def closed_loop(
    port: int,
    make: RequestFactory,
    *,
    count: int,
    concurrency: int,
    max_s: float = 60.0,
    limit_s: float = 300.0,
) -> LoadResult:
    """`concurrency` connections each send their next request as soon as the last returns.

    Stops after `count` requests or `max_s` seconds, whichever comes first, so a
    slow server makes a shorter sample rather than a longer run.
    """
    conns = [await HttpConn.open(port) for _ in range(concurrency)]
    result = LoadResult()
    next_i = 0

    stop_at = time.perf_counter() + max_s

    async def worker(conn: HttpConn) -> None:
        nonlocal next_i
        while next_i < count and time.perf_counter() < stop_at:
            i = next_i
            next_i += 1
            method, path, body = make(i)
            t0 = time.perf_counter()
            try:
                status, _ = await conn.request(method, path, body)
            except (ConnectionError, asyncio.IncompleteReadError):
                # Counted, not fatal: the run reports errors next to its figures.
                result.errors += 1
                await conn.close()
                conn = await HttpConn.open(port)
                continue
            result.latencies_s.append(time.perf_counter() - t0)
            if status >= 300:
                result.errors += 1

    meter = CpuMeter()
    t0 = time.perf_counter()
    async with asyncio.timeout(limit_s):
        await asyncio.gather(*(worker(c) for c in conns))
    result.elapsed_s = time.perf_counter() - t0
    result.client_busy = meter.busy()
    for c in conns:
        await c.close()
    return result


async def open_loop(
    port: int,
    make: RequestFactory,
    *,
    count: int,
    rate: float,
    connections: int,
    max_s: float = 30.0,
    limit_s: float = 300.0,
) -> LoadResult:
    """Send request i at start + i/rate whatever the answers do (no coordinated omission).

    Latency counts from the scheduled time, so a server that falls behind shows
    it in the tail instead of quietly slowing the client down.
    """
    idle: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await HttpConn.open(port))
    result = LoadResult()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(i: int, due: float) -> None:
        conn = await idle.get()
        method, path, body = make(i)
        status, _ = await conn.request(method, path, body)
        result.latencies_s.append(loop.time() - due)
        if status >= 300:
            result.errors += 1
        idle.put_nowait(conn)

    count = max(1, min(count, int(rate * max_s)))
    meter = CpuMeter()
    tasks = []
    async with asyncio.timeout(limit_s):
        for i in range(count):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the offered load, not waiting for a result
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    result.elapsed_s = loop.time() - start
    result.client_busy = meter.busy()
    while not idle.empty():
        await idle.get_nowait().close()
    return result


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run the client on uvloop when it is installed: less client CPU per frame."""
    try:
        import uvloop
    except ImportError:  # the client still works, only busier
        return asyncio.run(main)
    return uvloop.run(main)
