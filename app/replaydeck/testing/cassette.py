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

import base64
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1
# Headers that describe one connection, or that the player recomputes.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
)

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
    if body and "json" in content_type.lower():
        try:
            return json.loads(body)
        except ValueError:
            pass
    return body


def kept_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((k.lower(), v) for k, v in headers if k.lower() not in HOP_BY_HOP)


@dataclass
class Cassette:
    """The exchanges of one test, in the order they were recorded."""

    exchanges: list[Exchange] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{path} is not a recorded upstream (invalid JSON: {e})") from e
        if not isinstance(document, dict) or document.get("replaydeck_upstream") != VERSION:
            raise ValueError(
                f"{path} is not a recorded upstream: it lacks "
                f'"replaydeck_upstream": {VERSION} (was it written by replaydeck?)'
            )
        return cls([_exchange(item) for item in document.get("exchanges") or []])

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


def _encode_bytes(data: bytes) -> dict[str, str]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _decode_bytes(item: Mapping[str, Any]) -> bytes:
    if "base64" in item:
        return base64.b64decode(item["base64"])
    return str(item.get("text", "")).encode("utf-8")


def _document(exchange: Exchange) -> dict[str, Any]:
    request = exchange.request
    body: dict[str, Any] = {}
    parsed = request.parsed_body()
    if request.body and not isinstance(parsed, bytes):
        body = {"json": parsed}
    elif request.body:
        body = _encode_bytes(request.body)
    response = exchange.response
    return {
        "request": {
            "method": request.method,
            "path": request.path,
            "content_type": request.content_type,
            **body,
        },
        "response": {
            "status": response.status,
            "at_ms": round(response.at_ms, 3),
            "headers": [f"{name}: {value}" for name, value in response.headers],
            "chunks": [
                {"at_ms": round(chunk.at_ms, 3), **_encode_bytes(chunk.data)}
                for chunk in response.chunks
            ],
        },
    }


def _exchange(item: Mapping[str, Any]) -> Exchange:
    request, response = item["request"], item["response"]
    if "json" in request:
        # Compact, as most clients send it; only matching reads it back.
        body = json.dumps(request["json"], separators=(",", ":"), ensure_ascii=False).encode()
    else:
        body = _decode_bytes(request)
    return Exchange(
        RecordedRequest(
            method=str(request["method"]).upper(),
            path=str(request["path"]),
            content_type=str(request.get("content_type") or ""),
            body=body,
        ),
        RecordedResponse(
            status=int(response["status"]),
            headers=tuple(_header(line) for line in response.get("headers") or []),
            at_ms=float(response.get("at_ms") or 0.0),
            chunks=tuple(
                Chunk(at_ms=float(c.get("at_ms") or 0.0), data=_decode_bytes(c))
                for c in response.get("chunks") or []
            ),
        ),
    )


def _header(line: str) -> tuple[str, str]:
    name, _, value = str(line).partition(":")
    return name.strip().lower(), value.strip()
