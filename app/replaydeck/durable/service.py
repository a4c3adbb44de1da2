"""Durable Streams operations over the session log (PROTOCOL.md sections 4 and 5).

Every stream is a session (`session_for`); its data is the session's events, one
per JSON message or per byte-mode append, so a stream's offsets are the session's
seqs. The rest of a stream's state (content type, expiry, closure, writer state,
fork parent) is its `ds_streams` row. Writes to one stream are serialized by a
lock of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from replaydeck.clock import now_us
from replaydeck.durable import messages
from replaydeck.durable.protocol import (
    STREAM_NAME,
    is_json,
    is_text,
    is_true,
    media_type,
    offset_of,
    parse_counter,
    parse_expires_at,
    parse_offset,
    parse_ttl,
)
from replaydeck.errors import (
    SeqConflict,
    SessionExists,
    SessionNotFound,
    StaleProducerEpoch,
    StreamBadRequest,
    StreamConflict,
    StreamGone,
    StreamNotFound,
)
from replaydeck.events import NewEvent
from replaydeck.ids import is_session_id
from replaydeck.live.hub import Hub
from replaydeck.store.base import AppendResult, EventStore, StoredEvent
from replaydeck.store.durable_streams import StreamRecord, StreamTable
from replaydeck.store.session_locks import SessionLocks

DEFAULT_CONTENT_TYPE = "application/octet-stream"
STREAM_PREFIX = "/v1/stream/"
CACHED_STREAMS = 10_000


def session_for(name: str) -> str:
    """The session of a stream: its name when that is a valid session id, else a
    digest of it (names may hold `/` or be longer than a session id)."""
    if is_session_id(name):
        return name
    return "ds-" + hashlib.sha256(name.encode()).hexdigest()[:60]


def stream_name(path: str) -> str:
    """A stream's name from its path as `Stream-Forked-From` gives it."""
    path = path.strip()
    path = path.removeprefix("/ds")
    return path.removeprefix(STREAM_PREFIX).lstrip("/")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Producer:
    id: str
    epoch: int
    seq: int

    @staticmethod
    def of(headers: Mapping[str, str]) -> Producer | None:
        values = [headers.get(h) for h in ("producer-id", "producer-epoch", "producer-seq")]
        if all(v is None for v in values):
            return None
        pid, epoch, seq = values
        if pid is None or epoch is None or seq is None:
            raise StreamBadRequest(
                "Producer-Id, Producer-Epoch and Producer-Seq go together; send all three or none."
            )
        if not pid.strip():
            raise StreamBadRequest("Producer-Id is empty; name the producer.")
        return Producer(
            pid, parse_counter(epoch, "Producer-Epoch"), parse_counter(seq, "Producer-Seq")
        )

    @property
    def echo(self) -> dict[str, str]:
        return {"Producer-Epoch": str(self.epoch), "Producer-Seq": str(self.seq)}


@dataclass
class Snapshot:
    """A stream and its session's tail, read together."""

    record: StreamRecord
    tail: int


@dataclass
class DurableStreams:
    store: EventStore
    hub: Hub
    table: StreamTable
    clock: Callable[[], int] = now_us
    _locks: SessionLocks = field(default_factory=SessionLocks)
    _changed: dict[str, asyncio.Event] = field(default_factory=dict)
    # Reads reset a sliding TTL too; kept here rather than written on every read.
    _touched: dict[str, int] = field(default_factory=dict)
    # The streams last used, with their tails: a live read wakes on every append,
    # and a thousand readers must not each ask the database what it already knows.
    # This process's writes keep it current (one replica serves /ds; see README).
    _cache: OrderedDict[str, Snapshot] = field(default_factory=OrderedDict)

    # -- state -----------------------------------------------------------------

    def changed(self, name: str) -> asyncio.Event:
        """Set once the stream next changes (an append, closing, deletion)."""
        return self._changed.setdefault(name, asyncio.Event())

    def _notify(self, name: str) -> None:
        event = self._changed.pop(name, None)
        if event is not None:
            event.set()

    def _expired(self, record: StreamRecord, now: int) -> bool:
        if record.expires_at_us is not None and now >= record.expires_at_us:
            return True
        if record.ttl_s is None:
            return False
        touched = max(record.touched_at_us, self._touched.get(record.name, 0))
        return now >= touched + record.ttl_s * 1_000_000

    def _remember(self, found: Snapshot) -> Snapshot:
        name = found.record.name
        self._cache[name] = found
        self._cache.move_to_end(name)
        if len(self._cache) > CACHED_STREAMS:
            self._cache.popitem(last=False)
        return found

    async def _load(self, name: str) -> Snapshot | None:
        record = await self.table.get(name)
        if record is None:
            return None
        try:
            session = await self.store.get_session(record.session_id)
        except SessionNotFound:
            # Deleted through /v1/sessions: the stream went with it.
            await self.table.delete(name)
            return None
        return self._remember(Snapshot(record, session.last_seq))

    async def _find(self, name: str) -> Snapshot | None:
        """The stream, unless unknown or expired (an expired one is deleted here)."""
        found = self._cache.get(name) or await self._load(name)
        if found is None:
            return None
        if not found.record.deleted and self._expired(found.record, self.clock()):
            await self._remove(found.record)
            return None
        return found

    async def open_stream(self, name: str, *, touch: bool = True) -> Snapshot:
        found = await self._find(name)
        if found is None:
            raise StreamNotFound(f"There is no stream {name!r}; create it with PUT.")
        if found.record.deleted:
            raise StreamGone(f"The stream {name!r} was deleted; its forks keep its data.")
        if touch:
            self._touched[name] = self.clock()
        return found

    async def _remove(self, record: StreamRecord) -> None:
        """Delete a stream and its session; then its parent, if that was deleted
        and waited only for this fork."""
        await self.table.delete(record.name)
        self._cache.pop(record.name, None)
        self._touched.pop(record.name, None)
        with contextlib.suppress(SessionNotFound):
            await self.store.delete_session(record.session_id)
        self.hub.remove(record.session_id)
        self._notify(record.name)
        if record.forked_from is not None:
            parent = await self.table.get(record.forked_from)
            if (
                parent is not None
                and parent.deleted
                and not await self.table.has_live_forks(parent.name)
            ):
                await self._remove(parent)

    async def _append(self, found: Snapshot, events: list[NewEvent]) -> int:
        """Append after the tail this process knows, and return the new tail. When the
        session moved meanwhile (appended to or deleted through /v1), learn where it
        is and append after that, or answer 404 for a stream whose session is gone."""
        record = found.record

        def announce(result: AppendResult) -> None:
            self.hub.publish(record.session_id, result.last_seq, events=result.appended)

        try:
            result = await self.store.append(
                record.session_id, events, expected_seq=found.tail, on_stored=announce
            )
        except SeqConflict:
            self._cache.pop(record.name, None)
            if await self._load(record.name) is None:
                raise StreamNotFound(f"The stream {record.name!r} was deleted.") from None
            result = await self.store.append(record.session_id, events, on_stored=announce)
        return result.last_seq

    # -- operations --------------------------------------------------------------

    async def head(self, name: str) -> Answer:
        found = await self.open_stream(name, touch=False)
        return Answer(200, {**metadata_headers(found), "Cache-Control": "no-store"})

    async def create(
        self, name: str, headers: Mapping[str, str], body: bytes, *, location: str
    ) -> Answer:
        if re.fullmatch(STREAM_NAME, name) is None:
            raise StreamBadRequest(
                "A stream name has 1 to 1024 characters, none of them control characters."
            )
        requested = _requested_type(headers)
        ttl, expires = _expiry(headers)
        closed = is_true(headers.get("stream-closed"))
        source = headers.get("stream-forked-from")
        if source is None and (
            "stream-fork-offset" in headers or "stream-fork-sub-offset" in headers
        ):
            raise StreamBadRequest(
                "Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From."
            )
        async with self._locks.hold(name):
            found = await self._find(name)
            if found is not None:
                return self._recreate(found, headers, requested, ttl, expires, closed)
            if source is not None:
                fork = await self._fork(
                    name, stream_name(source), headers, requested, ttl, expires, closed, body
                )
                return _created(location, self._remember(fork))
            content_type = requested or DEFAULT_CONTENT_TYPE
            events = messages.events_for(
                body, json_mode=is_json(content_type), text=is_text(content_type), initial=True
            )
            record = await self._new_stream(name, content_type, ttl, expires, closed)
            tail = await self._append(Snapshot(record, 0), events) if events else 0
            return _created(location, self._remember(Snapshot(record, tail)))

    def _recreate(
        self,
        found: Snapshot,
        headers: Mapping[str, str],
        requested: str | None,
        ttl: int | None,
        expires: int | None,
        closed: bool,
    ) -> Answer:
        record = found.record
        if record.deleted:
            raise StreamConflict(
                f"The stream {record.name!r} was deleted and its forks still read from it; "
                "its name cannot be reused yet."
            )
        source = headers.get("stream-forked-from")
        default = record.content_type if source is not None else DEFAULT_CONTENT_TYPE
        inherits = source is not None and ttl is None and expires is None
        same = (
            media_type(requested or default) == media_type(record.content_type)
            and closed == record.closed
            and (inherits or (ttl, expires) == (record.ttl_s, record.expires_at_us))
        )
        if source is None:
            same = same and record.forked_from is None
        else:
            fork_offset = headers.get("stream-fork-offset")
            same = (
                same
                and stream_name(source) == record.forked_from
                and (fork_offset is None or parse_offset(fork_offset) == record.fork_seq)
                and _sub_offset_of(headers) == (record.fork_sub or 0)
            )
        if not same:
            raise StreamConflict(
                f"The stream {record.name!r} exists with another configuration (content "
                "type, TTL or expiry, closure, or fork source)."
            )
        return Answer(200, metadata_headers(found))

    async def _new_stream(
        self,
        name: str,
        content_type: str,
        ttl: int | None,
        expires: int | None,
        closed: bool,
        **fork: object,
    ) -> StreamRecord:
        session_id = session_for(name)
        try:
            await self.store.create_session(
                session_id, metadata={"source": "durable-streams", "stream": name[:200]}
            )
        except SessionExists:
            raise StreamConflict(
                f"The session {session_id!r} exists and is not this Durable Stream; "
                "choose another stream name."
            ) from None
        record = StreamRecord(
            name=name,
            session_id=session_id,
            content_type=content_type,
            touched_at_us=self.clock(),
            ttl_s=ttl,
            expires_at_us=expires,
            closed=closed,
            **fork,  # type: ignore[arg-type]
        )
        await self.table.insert(record)
        return record

    async def _fork(
        self,
        name: str,
        source_name: str,
        headers: Mapping[str, str],
        requested: str | None,
        ttl: int | None,
        expires: int | None,
        closed: bool,
        body: bytes,
    ) -> Snapshot:
        found = await self._find(source_name)
        if found is None:
            raise StreamNotFound(f"There is no stream {source_name!r} to fork.")
        source = found.record
        if source.deleted:
            raise StreamConflict(f"The stream {source_name!r} was deleted; it cannot be forked.")
        if requested is not None and media_type(requested) != media_type(source.content_type):
            raise StreamConflict(
                f"A fork has its source's content type, {source.content_type}; "
                f"this request says {requested}."
            )
        offset = headers.get("stream-fork-offset")
        fork_seq = found.tail if offset is None else parse_offset(offset, "Stream-Fork-Offset")
        if fork_seq > found.tail:
            raise StreamBadRequest("Stream-Fork-Offset lies past the source stream's tail.")
        sub = _sub_offset_of(headers)
        json_mode = is_json(source.content_type)
        # A JSON sub-offset counts messages past the fork offset; a byte one, bytes
        # of the one append after it.
        wanted = fork_seq + (max(sub, 1) if json_mode else 1)
        rows = await self.store.read(source.session_id, after=0, limit=wanted)
        inherited = [messages.new_event_of(row) for row in rows[:fork_seq]]
        if sub:
            inherited.extend(_sub_offset(rows, fork_seq, sub, json_mode=json_mode))
        if ttl is None and expires is None:
            ttl, expires = source.ttl_s, source.expires_at_us
        record = await self._new_stream(
            name,
            source.content_type,
            ttl,
            expires,
            closed,
            forked_from=source_name,
            fork_seq=fork_seq,
            fork_sub=sub,
        )
        events = inherited + messages.events_for(
            body, json_mode=json_mode, text=is_text(source.content_type)
        )
        tail = await self._append(Snapshot(record, 0), events) if events else 0
        return Snapshot(record, tail)

    async def append(self, name: str, headers: Mapping[str, str], body: bytes) -> Answer:
        producer = Producer.of(headers)
        closing = is_true(headers.get("stream-closed"))
        stream_seq = headers.get("stream-seq")
        async with self._locks.hold(name):
            found = await self.open_stream(name)
            record = found.record
            if record.closed:
                return _append_to_closed(found, producer, bool(body), closing)
            if not body and not closing:
                raise StreamBadRequest(
                    "The body is empty; an append needs data (or Stream-Closed: true to close)."
                )
            if body:
                _check_content_type(record, headers.get("content-type"))
            producers = record.producers
            if producer is not None:
                if _check_producer(record, producer):
                    # Already stored: a retry, answered as the first time.
                    last = record.producers[producer.id][1]
                    echo = {"Producer-Epoch": str(producer.epoch), "Producer-Seq": str(last)}
                    return Answer(204, {**_tail_headers(found), **echo})
                producers = {**producers, producer.id: (producer.epoch, producer.seq)}
            last_seq = record.stream_seq
            if body and stream_seq is not None and last_seq is not None and stream_seq <= last_seq:
                raise StreamConflict(
                    f"Stream-Seq {stream_seq[:80]!r} is not after the last one, "
                    f"{last_seq[:80]!r}; writer sequence numbers must increase."
                )
            events = messages.events_for(
                body, json_mode=is_json(record.content_type), text=is_text(record.content_type)
            )
            tail = await self._append(found, events) if events else found.tail
            changes: dict[str, object] = {}
            if producer is not None:
                changes["producers"] = producers
            if body and stream_seq is not None:
                changes["stream_seq"] = stream_seq
            if closing:
                changes["closed"] = True
                if producer is not None:
                    changes["closed_by"] = (producer.id, producer.epoch, producer.seq)
            self._touched[name] = self.clock()
            # A plain append changes no state but its time, which only a TTL needs
            # to survive a restart: it then costs one transaction, not two.
            if changes or record.ttl_s is not None:
                record = record.with_(**changes, touched_at_us=self._touched[name])
                await self.table.save(record)
            done = self._remember(Snapshot(record, tail))
            self._notify(name)
            if producer is not None:
                # 200 says new data was stored; a close-only append stores none.
                return Answer(200 if body else 204, {**_tail_headers(done), **producer.echo})
            return Answer(204, _tail_headers(done))

    async def delete(self, name: str) -> Answer:
        async with self._locks.hold(name):
            found = await self.open_stream(name, touch=False)
            if await self.table.has_live_forks(name):
                record = found.record.with_(deleted=True)
                await self.table.save(record)
                self._remember(Snapshot(record, found.tail))
                self._notify(name)
            else:
                await self._remove(found.record)
        return Answer(204, {})

    async def read(self, record: StreamRecord, after: int, limit: int) -> list[StoredEvent]:
        return await self.store.read(record.session_id, after=after, limit=limit)


def _requested_type(headers: Mapping[str, str]) -> str | None:
    value = headers.get("content-type")
    if value is None or not value.strip():
        return None
    return value.strip()


def _expiry(headers: Mapping[str, str]) -> tuple[int | None, int | None]:
    ttl_header = headers.get("stream-ttl")
    expires_header = headers.get("stream-expires-at")
    if ttl_header is not None and expires_header is not None:
        raise StreamBadRequest("Send Stream-TTL or Stream-Expires-At, not both.")
    ttl = None if ttl_header is None else parse_ttl(ttl_header)
    expires = None if expires_header is None else parse_expires_at(expires_header)
    return ttl, expires


def _sub_offset_of(headers: Mapping[str, str]) -> int:
    value = headers.get("stream-fork-sub-offset")
    return 0 if value is None else parse_counter(value, "Stream-Fork-Sub-Offset")


def _check_content_type(record: StreamRecord, content_type: str | None) -> None:
    if content_type is None or not media_type(content_type):
        raise StreamBadRequest(
            f"The append has no Content-Type; this stream takes {record.content_type}."
        )
    if media_type(content_type) != media_type(record.content_type):
        raise StreamConflict(
            f"The append is {content_type}, but this stream takes {record.content_type}."
        )


def _check_producer(record: StreamRecord, producer: Producer) -> bool:
    """Section 5.2.1's validation; True for a duplicate (already stored)."""
    state = record.producers.get(producer.id)
    if state is None:
        if producer.seq != 0:
            raise StreamConflict(
                f"Producer {producer.id!r} is new here; its first append has Producer-Seq 0.",
                {"Producer-Expected-Seq": "0", "Producer-Received-Seq": str(producer.seq)},
            )
        return False
    epoch, last = state
    if producer.epoch < epoch:
        raise StaleProducerEpoch(
            f"Producer {producer.id!r} has written with epoch {epoch}; epoch "
            f"{producer.epoch} is fenced off.",
            {"Producer-Epoch": str(epoch)},
        )
    if producer.epoch > epoch:
        if producer.seq != 0:
            raise StreamBadRequest(
                f"A new epoch starts at Producer-Seq 0; this append has {producer.seq}."
            )
        return False
    if producer.seq <= last:
        return True
    if producer.seq > last + 1:
        raise StreamConflict(
            f"Producer {producer.id!r} skipped from seq {last} to {producer.seq}.",
            {"Producer-Expected-Seq": str(last + 1), "Producer-Received-Seq": str(producer.seq)},
        )
    return False


def _append_to_closed(
    found: Snapshot, producer: Producer | None, has_body: bool, closing: bool
) -> Answer:
    record = found.record
    if producer is not None and record.closed_by == (producer.id, producer.epoch, producer.seq):
        return Answer(204, {**_tail_headers(found), **producer.echo})
    if closing and not has_body:
        return Answer(204, _tail_headers(found))
    raise StreamConflict(
        f"The stream {record.name!r} is closed; it takes no more appends.",
        {"Stream-Closed": "true", "Stream-Next-Offset": offset_of(found.tail)},
    )


def _sub_offset(
    rows: list[StoredEvent], fork_seq: int, sub: int, *, json_mode: bool
) -> list[NewEvent]:
    """The part past the fork offset that `Stream-Fork-Sub-Offset` adds."""
    following = rows[fork_seq : fork_seq + 1] if not json_mode else rows[fork_seq : fork_seq + sub]
    if json_mode:
        if len(following) < sub:
            raise StreamBadRequest("Stream-Fork-Sub-Offset lies past the source stream's tail.")
        return [messages.new_event_of(row) for row in following]
    if not following:
        raise StreamBadRequest("Stream-Fork-Sub-Offset lies past the source stream's tail.")
    size = len(messages.payloads(following)[0])
    if sub > size:
        raise StreamBadRequest(
            f"Stream-Fork-Sub-Offset {sub} lies past the next append, which has {size} bytes."
        )
    if sub == size:
        return [messages.new_event_of(following[0])]
    return [messages.truncated(following[0], sub)]


def _tail_headers(found: Snapshot) -> dict[str, str]:
    headers = {"Stream-Next-Offset": offset_of(found.tail)}
    if found.record.closed:
        headers["Stream-Closed"] = "true"
    return headers


def metadata_headers(found: Snapshot) -> dict[str, str]:
    record = found.record
    headers = {"Content-Type": record.content_type, **_tail_headers(found)}
    if record.ttl_s is not None:
        headers["Stream-TTL"] = str(record.ttl_s)
    if record.expires_at_us is not None:
        headers["Stream-Expires-At"] = _rfc3339(record.expires_at_us)
    return headers


def _created(location: str, found: Snapshot) -> Answer:
    return Answer(201, {**metadata_headers(found), "Location": location})


def _rfc3339(ts_us: int) -> str:
    from replaydeck.events import format_ts

    return format_ts(ts_us)
