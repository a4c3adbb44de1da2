"""Reading an append request's body: one event, a JSON array, or NDJSON.

NDJSON is parsed line by line as it arrives, so a bad line fails the request
before the rest is read, and no more than the request limit is ever buffered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from replaydeck.errors import InvalidEvent, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from replaydeck.events import NewEvent

# Declared, never assumed: a page on another site can make a browser send a body
# without asking first only as text/plain, a form, or with no type at all.
JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/ndjson"})

Validate = Callable[[Any, int | None], NewEvent]


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {limit} bytes (REPLAYDECK_MAX_REQUEST_BYTES); "
        "send the events in several smaller requests."
    )


def _too_many(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request has more than {limit} events (REPLAYDECK_MAX_BATCH_EVENTS); "
        "send them in several requests."
    )


def check_declared_length(content_length: str | None, limit: int) -> None:
    if content_length is None:
        return
    # The HTTP parser checks it too; int() alone would take "+5", " 5" or other
    # scripts' digits, and raise rather than answer for thousands of digits.
    if not (content_length.isascii() and content_length.isdigit()):
        raise InvalidRequest(
            f"Content-Length {content_length[:20]!r} is not a whole number of bytes."
        )
    digits = content_length.lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise _too_large(limit)


async def read_events(
    content_type: str,
    chunks: AsyncIterator[bytes],
    *,
    validate: Validate,
    max_request_bytes: int,
    max_events: int,
) -> list[NewEvent]:
    declared = content_type.split(";", 1)[0].strip().lower()
    try:
        if declared in NDJSON_TYPES:
            return await _read_ndjson(chunks, validate, max_request_bytes, max_events)
        if declared in JSON_TYPES:
            return await _read_json(chunks, validate, max_request_bytes, max_events)
    except ClientDisconnect:
        raise _disconnected() from None
    said = f"Content-Type {declared!r} is" if declared else "A body without a Content-Type is"
    raise UnsupportedMediaType(
        f"{said} not accepted here; send Content-Type: application/json (one event or an "
        "array of events) or application/x-ndjson (one event per line)."
    )


async def json_body_declared(request: Request) -> None:
    """Route dependency: a request that carries a body must declare it application/json.

    FastAPI reads another type as bytes and answers with a 422 about the body's
    shape; this says what is wrong, before the body is looked at.
    """
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return
    declared = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared in JSON_TYPES:
        return
    said = f"Content-Type {declared!r} is" if declared else "A body without a Content-Type is"
    raise UnsupportedMediaType(
        f"{said} not accepted here; send the body as JSON with Content-Type: application/json."
    )


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """A whole request body, refused past `limit` bytes (and as a 400 when its client
    left before the end)."""
    try:
        return bytes(await _collect(chunks, limit))
    except ClientDisconnect:
        raise _disconnected() from None


def _disconnected() -> InvalidRequest:
    # Nobody is left to answer; nothing was stored. A 400, not a logged 500.
    return InvalidRequest(
        "The client disconnected before the request body was complete; nothing was "
        "stored. Send the whole body again."
    )


async def read_json_document(
    content_type: str, chunks: AsyncIterator[bytes], *, max_request_bytes: int
) -> Any:
    """A whole JSON body of at most `max_request_bytes`, for routes that take one
    document (a framework's export) rather than events."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared not in JSON_TYPES:
        said = f"Content-Type {declared!r} is" if declared else "A body without a Content-Type is"
        raise UnsupportedMediaType(
            f"{said} not accepted here; send the body as JSON with Content-Type: application/json."
        )
    body = await read_limited(chunks, max_request_bytes)
    if not body.strip():
        raise InvalidRequest("The request body is empty; send a JSON document.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(f"The request body is not valid JSON: {e}.") from None


async def _collect(chunks: AsyncIterator[bytes], limit: int) -> bytearray:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return body


async def _read_json(
    chunks: AsyncIterator[bytes], validate: Validate, limit: int, max_events: int
) -> list[NewEvent]:
    body = await _collect(chunks, limit)
    if not body.strip():
        raise InvalidRequest(
            'The request body is empty; send an event such as {"type": "status", '
            '"data": {"label": "thinking"}} or an array of them.'
        )
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(f"The request body is not valid JSON: {e}.") from None
    if isinstance(parsed, dict):
        return [validate(parsed, None)]
    if isinstance(parsed, list):
        if not parsed:
            raise InvalidEvent("The request holds an empty array; send at least one event.")
        if len(parsed) > max_events:
            raise _too_many(max_events)
        return [validate(item, index) for index, item in enumerate(parsed)]
    raise InvalidEvent(
        f"The request body is a JSON {type(parsed).__name__}; send one event object "
        "or an array of event objects."
    )


async def _read_ndjson(
    chunks: AsyncIterator[bytes], validate: Validate, limit: int, max_events: int
) -> list[NewEvent]:
    events: list[NewEvent] = []
    buffer = b""
    total = 0
    line_number = 0

    def take(line: bytes) -> None:
        nonlocal line_number
        line_number += 1
        if not line.strip():
            return
        try:
            parsed = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise InvalidRequest(
                f"Line {line_number} of the NDJSON body is not valid JSON: {e}. Send one "
                "JSON event object per line."
            ) from None
        if len(events) >= max_events:
            raise _too_many(max_events)
        events.append(validate(parsed, len(events)))

    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            take(line)
    take(buffer)
    if not events:
        raise InvalidRequest("The NDJSON body holds no events; send one JSON event per line.")
    return events
