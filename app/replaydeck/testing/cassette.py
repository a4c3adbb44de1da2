"""Recorded upstream exchanges: what an HTTP upstream answered, byte for byte, and when.

A cassette file is JSON, written to be read in review:

    {"replaydeck_upstream": 1, "exchanges": [
      {"request": {"method": "POST", "path": "/v1/chat/completions",
                   "content_type": "application/json", "json": {...}},
       "response": {"status": 200, "at_ms": 180.2,
                    "headers": ["content-type: text/event-stream", ...],
                    "chunks": [{"at_ms": 181.0, "text": "data: {...}\\n\\n"}, ...]}}]}

Times are milliseconds from the moment the request was sent: `at_ms` of the response
is when its headers arrived, each chunk's when the socket delivered it. Chunks are the
upstream's own bytes as they came off the wire (still compressed, if it compressed),
as text when they are UTF-8 and as `base64` otherwise. A request keeps its method,
path with query, content type and body (`json` when it parses, else `text` or
`base64`), never its headers: they carry the API key.

Pure: no I/O besides reading and writing the file, no clock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replaydeck.capture import wire
from replaydeck.testing import archive

VERSION = 1

# Called with (recorded body, sent body), each parsed JSON when it is JSON, else bytes.
BodyMatcher = Callable[[Any, Any], bool]


class UnrecordedRequest(Exception):
    """A request the recorded upstream has no exchange for, and may not record."""


@dataclass(frozen=True)
class Chunk:
    at_ms: float
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    content_type: str = ""
    body: bytes = b""

    def parsed_body(self) -> Any:
        return parse_body(self.body, self.content_type)


@dataclass(frozen=True)
class RecordedResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    at_ms: float = 0.0
    chunks: tuple[Chunk, ...] = ()

    @property
    def body(self) -> bytes:
        return b"".join(chunk.data for chunk in self.chunks)


@dataclass(frozen=True)
class Exchange:
    request: RecordedRequest
    response: RecordedResponse

    def describe(self) -> str:
        return f"{self.request.method} {self.request.path}"


def parse_body(body: bytes, content_type: str) -> Any:
    encoded = wire.encode_body(body, content_type)
    return encoded.get("json", body)


def kept_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(wire.parse_header_line(line) for line in wire.header_lines(headers))


@dataclass
class Cassette:
    """The exchanges of one test, in the order they were recorded."""

    exchanges: list[Exchange] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """A cassette file, or a session export archive recorded with its wire."""
        file = Path(path)
        with file.open("rb") as f:
            first = f.readline()
        try:
            opening = json.loads(first) if first.strip() else None
        except ValueError:
            opening = None  # an indented cassette's first line is just "{"
        if archive.is_header(opening):
            _, events = archive.read(file)
            return cls.from_events(events, source=str(path))
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{path} is not a recorded upstream (invalid JSON: {e})") from e
        if not isinstance(document, dict) or document.get("replaydeck_upstream") != VERSION:
            raise ValueError(
                f"{path} is not a recorded upstream: it lacks "
                f'"replaydeck_upstream": {VERSION} (was it written by replaydeck?)'
            )
        return cls([_exchange(item) for item in document.get("exchanges") or []])

    @classmethod
    def from_events(
        cls, events: Iterable[Mapping[str, Any]], *, source: str = "the session"
    ) -> Cassette:
        """The exchanges a captured session's wire events hold (capture/wire.py)."""
        exchanges: list[Exchange] = []
        request: RecordedRequest | None = None
        start, status, at_ms = 0.0, 0, 0.0
        headers: tuple[tuple[str, str], ...] = ()
        chunks: list[Chunk] = []
        for event in events:
            kind, data = event.get("type"), event.get("data") or {}
            offset = float(event.get("offset_ms") or 0.0)
            if kind == wire.REQUEST:
                if request is not None:
                    exchanges.append(_assembled(request, status, headers, at_ms, chunks))
                request = RecordedRequest(
                    str(data.get("method", "GET")).upper(),
                    str(data.get("path", "/")),
                    str(data.get("content_type") or ""),
                    wire.decode_body(data),
                )
                start, status, headers, at_ms, chunks = offset, 0, (), 0.0, []
            elif kind == wire.RESPONSE and request is not None:
                status = int(data.get("status", 200))
                headers = tuple(wire.parse_header_line(h) for h in data.get("headers") or [])
                at_ms = offset - start
            elif kind == wire.CHUNK and request is not None:
                chunks.append(Chunk(offset - start, wire.decode_bytes(data)))
        if request is not None:
            exchanges.append(_assembled(request, status, headers, at_ms, chunks))
        if not exchanges:
            raise ValueError(
                f"{source} holds no http.request event: record it with its wire "
                "(RecordingMiddleware(record_wire=True), `replaydeck proxy --record-wire`)"
            )
        return cls(exchanges)

    def save(self, path: str | os.PathLike[str]) -> None:
        document = {
            "replaydeck_upstream": VERSION,
            "exchanges": [_document(exchange) for exchange in self.exchanges],
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(document, indent=2, ensure_ascii=False)
        target.write_text(text + "\n", encoding="utf-8")


class Playlist:
    """Hands out each recorded exchange once, to the request it answers.

    `match="order"`: requests must come in the recorded order, each with the method and
    path of the next exchange. `match="request"`: a request takes the first exchange not
    yet played with its method and path, whatever the order (concurrent calls). Either
    way `body(recorded, sent)` may narrow the choice further.
    """

    def __init__(
        self, exchanges: list[Exchange], *, match: str = "order", body: BodyMatcher | None = None
    ) -> None:
        if match not in ("order", "request"):
            raise ValueError(f"match={match!r} is not known; use 'order' or 'request'")
        self.exchanges = exchanges
        self.match = match
        self.body = body
        self.played: list[bool] = [False] * len(exchanges)

    def add(self, exchange: Exchange, *, played: bool = True) -> None:
        self.exchanges.append(exchange)
        self.played.append(played)

    def unplayed(self) -> list[Exchange]:
        return [e for e, done in zip(self.exchanges, self.played, strict=True) if not done]

    def give_back(self, exchange: Exchange) -> None:
        """A request abandoned before its answer began leaves its exchange for a retry."""
        for index, candidate in enumerate(self.exchanges):
            if candidate is exchange:
                self.played[index] = False

    def take(self, request: RecordedRequest) -> Exchange | None:
        """The exchange that answers `request`, now played; None when there is none."""
        for index, exchange in enumerate(self.exchanges):
            if self.played[index]:
                continue
            if self._matches(exchange.request, request):
                self.played[index] = True
                return exchange
            if self.match == "order":
                return None
        return None

    def explain(self, request: RecordedRequest) -> str:
        """Why `take` found nothing, in a sentence that says what to do."""
        sent = f"{request.method} {request.path}"
        waiting = self.unplayed()
        if not self.exchanges:
            return f"{sent}: nothing is recorded"
        if not waiting:
            return f"{sent}: all {len(self.exchanges)} recorded exchange(s) were already played"
        if self.match == "order":
            return f"{sent}: the next recorded exchange is {waiting[0].describe()}" + (
                " (its body did not match)" if _same_route(waiting[0].request, request) else ""
            )
        listed = ", ".join(e.describe() for e in waiting[:5])
        return f"{sent}: no unplayed recorded exchange matches; waiting: {listed}"

    def _matches(self, recorded: RecordedRequest, sent: RecordedRequest) -> bool:
        if not _same_route(recorded, sent):
            return False
        return self.body is None or bool(self.body(recorded.parsed_body(), sent.parsed_body()))


def _same_route(recorded: RecordedRequest, sent: RecordedRequest) -> bool:
    return recorded.method == sent.method and recorded.path == sent.path


def _assembled(
    request: RecordedRequest,
    status: int,
    headers: tuple[tuple[str, str], ...],
    at_ms: float,
    chunks: list[Chunk],
) -> Exchange:
    return Exchange(request, RecordedResponse(status, headers, at_ms, tuple(chunks)))


def _document(exchange: Exchange) -> dict[str, Any]:
    request, response = exchange.request, exchange.response
    return {
        "request": wire.request_data(
            request.method, request.path, request.content_type, request.body
        ),
        "response": {
            "status": response.status,
            "at_ms": round(response.at_ms, 3),
            "headers": wire.header_lines(response.headers),
            "chunks": [
                {"at_ms": round(chunk.at_ms, 3), **wire.encode_bytes(chunk.data)}
                for chunk in response.chunks
            ],
        },
    }


def _exchange(item: Mapping[str, Any]) -> Exchange:
    request, response = item["request"], item["response"]
    body = wire.decode_body(request)
    return Exchange(
        RecordedRequest(
            method=str(request["method"]).upper(),
            path=str(request["path"]),
            content_type=str(request.get("content_type") or ""),
            body=body,
        ),
        RecordedResponse(
            status=int(response["status"]),
            headers=tuple(wire.parse_header_line(line) for line in response.get("headers") or []),
            at_ms=float(response.get("at_ms") or 0.0),
            chunks=tuple(
                Chunk(at_ms=float(c.get("at_ms") or 0.0), data=wire.decode_bytes(c))
                for c in response.get("chunks") or []
            ),
        ),
    )
