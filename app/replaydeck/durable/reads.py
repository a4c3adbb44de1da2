"""Reading a stream: catch-up, long-poll and SSE (PROTOCOL.md 5.6 to 5.8)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import orjson

from replaydeck.durable import messages
from replaydeck.durable.protocol import (
    BEGINNING,
    NOW,
    is_json,
    is_text,
    next_cursor,
    offset_of,
    parse_offset,
)
from replaydeck.durable.service import DurableStreams, Snapshot
from replaydeck.errors import StreamBadRequest, StreamError
from replaydeck.live.hub import Subscription
from replaydeck.store.base import StoredEvent

CACHEABLE = "public, max-age=60, stale-while-revalidate=300"
KEEP_ALIVE = b": keep-alive\n\n"


@dataclass(frozen=True, slots=True)
class ReadRequest:
    offset: str | None
    live: str | None
    cursor: str | None = None
    if_none_match: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    end: int
    up_to_date: bool
    closed: bool


@dataclass
class Reader:
    streams: DurableStreams
    page_size: int
    long_poll_timeout: float
    sse_max_seconds: float
    keep_alive: float
    _last_frame: tuple[Sequence[StoredEvent], str, bytes] | None = field(default=None, init=False)

    def _start(self, request: ReadRequest, found: Snapshot) -> int:
        if request.live not in (None, "long-poll", "sse"):
            raise StreamBadRequest(
                f"live={request.live[:40]!r} is not a read mode; use long-poll or sse."
            )
        if request.live is not None and request.offset is None:
            raise StreamBadRequest(f"A live={request.live} read needs an offset.")
        if request.offset in (None, BEGINNING):
            return 0
        if request.offset == NOW:
            return found.tail
        after = parse_offset(request.offset)
        if after > found.tail:
            raise StreamBadRequest("The offset lies past the stream's tail.")
        return after

    async def _page(
        self, found: Snapshot, after: int, shared: Subscription | None = None
    ) -> tuple[Page, Sequence[StoredEvent]]:
        """The events after `after`; `shared`, one query serves every reader that
        waits at the same offset (the hub's shared read)."""
        record = found.record
        if shared is None:
            rows = await self.streams.read(record, after, self.page_size)
        else:
            rows = await shared.read(
                lambda after, limit: self.streams.read(record, after, limit), after, self.page_size
            )
        end = rows[-1].seq if rows else after
        items = messages.payloads(rows)
        body = messages.json_array(items) if is_json(record.content_type) else b"".join(items)
        tail = max(found.tail, end)
        at_tail = end >= tail
        return Page(body, end, at_tail, record.closed and at_tail), rows

    async def read(self, name: str, request: ReadRequest) -> tuple[int, dict[str, str], bytes]:
        """A catch-up or long-poll read: status, headers, body."""
        changed = self.streams.changed(name)
        found = await self.streams.open_stream(name)
        after = self._start(request, found)
        page, rows = await self._page(found, after)
        if request.offset == NOW and request.live is None:
            page = Page(
                b"[]" if is_json(found.record.content_type) else b"",
                found.tail,
                True,
                found.record.closed,
            )
            return 200, {**_page_headers(found, page), "Cache-Control": "no-store"}, page.body
        if request.live == "long-poll" and not rows and not page.closed:
            deadline = time.monotonic() + self.long_poll_timeout
            while not rows and not page.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    headers = {**_page_headers(found, page), **self._cursor(request)}
                    return 204, headers, b""
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    continue
                changed = self.streams.changed(name)
                found = await self.streams.open_stream(name)
                page, rows = await self._page(found, after)
        headers = _page_headers(found, page)
        if request.live == "long-poll":
            if not rows:
                return 204, {**headers, **self._cursor(request, page)}, b""
            headers.update(self._cursor(request, page))
        etag = f'"{found.record.session_id}:{after}:{page.end}{":c" if page.closed else ""}"'
        headers["ETag"] = etag
        headers["Cache-Control"] = CACHEABLE
        if request.if_none_match is not None and etag in _etags(request.if_none_match):
            return 304, headers, b""
        return 200, headers, page.body

    def _cursor(self, request: ReadRequest, page: Page | None = None) -> dict[str, str]:
        if page is not None and page.closed:
            return {}
        return {"Stream-Cursor": next_cursor(time.time(), request.cursor)}

    async def sse_headers(self, name: str, request: ReadRequest) -> tuple[dict[str, str], int]:
        found = await self.streams.open_stream(name)
        after = self._start(request, found)
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
        if not is_text(found.record.content_type):
            headers["stream-sse-data-encoding"] = "base64"
        return headers, after

    async def sse(self, name: str, request: ReadRequest, after: int) -> AsyncIterator[bytes]:
        """Data and control events from `after`; ends when the stream is closed and
        sent, deleted, or after `sse_max_seconds` (clients reconnect from the last
        control event's offset)."""
        deadline = time.monotonic() + self.sse_max_seconds
        try:
            session_id = (await self.streams.open_stream(name)).record.session_id
        except StreamError:
            return
        first = True
        with self.streams.hub.subscribe(session_id) as shared:
            while True:
                changed = self.streams.changed(name)
                try:
                    found = await self.streams.open_stream(name)
                except StreamError:
                    return
                page, rows = await self._page(found, after, shared)
                # A data event and its control event go out together: a reader
                # never sees data without the offset to resume after it.
                frames = self._data_frame(found, rows) if rows else b""
                if rows or first or page.closed:
                    frames += self._control(request, page)
                if frames:
                    yield frames
                if page.closed:
                    return
                first = False
                after = page.end
                if rows and not page.up_to_date:
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), min(self.keep_alive, remaining))
                except TimeoutError:
                    yield KEEP_ALIVE

    def _data_frame(self, found: Snapshot, rows: Sequence[StoredEvent]) -> bytes:
        # Readers at one offset share one read (one list): encode its frame once.
        last = self._last_frame
        content_type = found.record.content_type
        if last is not None and last[0] is rows and last[1] == content_type:
            return last[2]
        frame = self._encode(content_type, rows)
        self._last_frame = (rows, content_type, frame)
        return frame

    def _encode(self, content_type: str, rows: Sequence[StoredEvent]) -> bytes:
        items = messages.payloads(rows)
        if is_json(content_type):
            return b"event: data\ndata:" + messages.json_array(items) + b"\n\n"
        joined = b"".join(items)
        if not is_text(content_type):
            return b"event: data\ndata:" + base64.b64encode(joined) + b"\n\n"
        lines = joined.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        return b"event: data\n" + b"".join(map(_data_line, lines)) + b"\n"

    def _control(self, request: ReadRequest, page: Page) -> bytes:
        control: dict[str, object] = {"streamNextOffset": offset_of(page.end)}
        if page.closed:
            control["streamClosed"] = True
            control["upToDate"] = True
        else:
            control["streamCursor"] = next_cursor(time.time(), request.cursor)
            if page.up_to_date:
                control["upToDate"] = True
        return b"event: control\ndata:" + orjson.dumps(control) + b"\n\n"


def _data_line(line: bytes) -> bytes:
    # A reader drops one space after `data:`; a line's own leading space is kept
    # by sending one more.
    return (b"data: " if line.startswith(b" ") else b"data:") + line + b"\n"


def _page_headers(found: Snapshot, page: Page) -> dict[str, str]:
    headers = {
        "Content-Type": found.record.content_type,
        "Stream-Next-Offset": offset_of(page.end),
    }
    if page.up_to_date:
        headers["Stream-Up-To-Date"] = "true"
    if page.closed:
        headers["Stream-Closed"] = "true"
    return headers


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",")}
