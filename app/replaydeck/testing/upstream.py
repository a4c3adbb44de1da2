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

``inject(fault)`` spoils the next answer played (faults.py): a disconnect mid-stream,
a 429 with Retry-After, a malformed frame, added latency.

Recording sends the request to its own URL, through httpx's own transport, and keeps
the response's bytes as the socket delivered them (before any decoding).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx

from replaydeck.replay.pacing import Pacer
from replaydeck.testing.cassette import (
    BodyMatcher,
    Cassette,
    Exchange,
    Playlist,
    RecordedResponse,
    UnrecordedRequest,
)
from replaydeck.testing.faults import Fault, Plan, plan
from replaydeck.testing.playback import parse_speed
from replaydeck.testing.streams import (
    AsyncPlayback,
    AsyncTee,
    Playback,
    SyncPlayback,
    SyncTee,
    Tape,
    read_timeout,
    recorded_request,
)

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
        self.faults: list[Fault] = []
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

    def inject(self, *faults: Fault) -> None:
        """Spoil the next requests' answers (faults.py), one fault after the other."""
        with self._lock:
            self.faults.extend(faults)

    def _plan(self, request: httpx.Request) -> tuple[Plan, Exchange | None] | None:
        """What to play for `request` and the exchange it plays; None to record it."""
        fault = None
        with self._lock:
            if self.faults:
                fault = self.faults[0]
                remaining = replace(fault, times=fault.times - 1)
                self.faults[0:1] = [remaining] if remaining.times > 0 else []
        if fault is not None and fault.response is not None:
            return plan(fault.response, fault), None
        exchange = self._find(request)
        return None if exchange is None else (plan(exchange.response, fault), exchange)

    def _give_back(self, exchange: Exchange | None) -> None:
        if exchange is not None:
            with self._lock:
                self.playlist.give_back(exchange)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        planned = self._plan(request)
        if planned is None:
            return self._record(request)
        answer, exchange = planned
        playback = Playback(answer, self._pacing(), read_timeout(request))
        try:
            playback.wait(answer.response.at_ms, sleep=time.sleep)
        except httpx.ReadTimeout:
            self._give_back(exchange)
            raise
        return _response(answer.response, SyncPlayback(playback))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        planned = self._plan(request)
        if planned is None:
            return await self._arecord(request)
        answer, exchange = planned
        playback = Playback(answer, self._pacing(), read_timeout(request))
        try:
            await playback.await_(answer.response.at_ms)
        except (httpx.ReadTimeout, anyio.get_cancelled_exc_class()):
            # Cancelled: the real-port server's client went away before the headers.
            self._give_back(exchange)
            raise
        return _response(answer.response, AsyncPlayback(playback))

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


def _response(recorded: RecordedResponse, stream: Any) -> httpx.Response:
    return httpx.Response(recorded.status, headers=list(recorded.headers), stream=stream)


def _response_like(response: httpx.Response, stream: Any) -> httpx.Response:
    return httpx.Response(
        response.status_code,
        headers=response.headers.raw,
        stream=stream,
        extensions=response.extensions,
    )
