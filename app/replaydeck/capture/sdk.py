"""The Python recorder SDK: record a session from inside any asyncio app.

    recorder = Recorder("http://127.0.0.1:8000")
    async with recorder.session(metadata={"user": "u1"}) as s:
        await s.emit("message.delta", {"text": "Hello"})

`emit` puts the event in the session's bounded buffer and returns; a background task
sends batches to `POST /v1/sessions/{id}/events`. Every event gets its id here, so a
batch that is retried after a timeout is a no-op for the events the store already
has. When the store is down the buffer fills; the `overflow` policy says what then:
`"drop_oldest"` (default: never wait, count what was dropped in `stats.dropped`) or
`"wait"` (`emit` waits for room, so the app slows down instead of losing events).
On exit the session flushes for up to `flush_timeout` seconds.

`emit` checks each event by the store's own rules (replaydeck.events), so one bad
event never makes the store refuse a batch of good ones. The `on_invalid` policy says
what a bad event does: `"raise"` (default: `InvalidEvent` with a sentence saying what
is wrong) or `"drop"` (that event alone is dropped, counted in `stats.invalid` and
logged once per session). Leaving `recorder.session()` sends `final` unless the code
already did: `{"synthetic": true, "reason": "complete"}`, or on an exception
`{"synthetic": true, "reason": "error", "exception_type": "ValueError"}` (`"cancelled"`
when the task was cancelled). Whatever the store refuses is logged and counted in
`stats.rejected`; nothing is dropped without a count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import anyio
import httpx
import orjson

from replaydeck.errors import InvalidEvent, PayloadTooLarge
from replaydeck.events import DEFAULT_MAX_EVENT_BYTES, validate_event

log = logging.getLogger("replaydeck.capture")

Overflow = Literal["drop_oldest", "wait"]
OnInvalid = Literal["raise", "drop"]
Clock = Callable[[], datetime]
JSON_HEADERS = {"Content-Type": "application/json"}
INVALID_EVENT_PROBLEM = f"urn:replaydeck:problem:{InvalidEvent.slug}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RecorderStats:
    sent: int = 0
    dropped: int = 0  # lost to overflow or to the flush timeout
    rejected: int = 0  # refused by the store (bad input, or the session was final)
    invalid: int = 0  # failed the check at emit and dropped (on_invalid="drop")
    retries: int = 0


class RecordingSession:
    """One session's buffer and sender; made by `Recorder.session` or `Recorder.open`."""

    def __init__(
        self,
        recorder: Recorder,
        session_id: str,
        metadata: Mapping[str, Any] | None,
        on_invalid: OnInvalid | None = None,
    ) -> None:
        self.id = session_id
        self.stats = RecorderStats()
        self.on_invalid: OnInvalid = on_invalid or recorder.on_invalid
        self.max_event_bytes = recorder.max_event_bytes
        self._recorder = recorder
        self._metadata = metadata
        self._buffer: deque[dict[str, Any]] = deque()
        self._inflight = 0
        self._id_prefix = uuid.uuid4().hex[:12]
        self._counter = 0
        self._refused = False  # the store said 409: the session is final
        self._final = False  # a valid `final` is queued: the store refuses what follows
        self._warned: set[str] = set()  # what was logged once already
        self._closing = False
        # The `final` to queue if the session is closed without one (the capture's
        # runs, when the app shuts down mid-run); None leaves the end to the caller.
        self.final_on_close: Callable[[], dict[str, Any]] | None = None
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # A task rather than a task group: the middleware opens a session in one task
        # (the app's send) and closes it in another, so its life is not one lexical scope.
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def emit(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        ts: datetime | None = None,
    ) -> str:
        """Queue one event; waits only under the `wait` policy while the buffer is full."""
        if self._recorder.overflow == "wait":
            while (
                len(self._buffer) >= self._recorder.buffer_size
                and not self._refused
                and not self._task.done()
            ):
                self._room.clear()
                await self._room.wait()
        return self.emit_nowait(type, data, id=id, ts=ts)

    def emit_nowait(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        ts: datetime | None = None,
    ) -> str:
        """Queue one event without ever waiting; drops the oldest buffered one when full.

        An invalid event raises `InvalidEvent` (or `PayloadTooLarge`), or under
        `on_invalid="drop"` is dropped and counted in `stats.invalid`."""
        if id is None:
            self._counter += 1
            id = f"{self._id_prefix}-{self._counter}"
        payload = {} if data is None else dict(data) if isinstance(data, Mapping) else data
        if not self._valid({"type": type, "data": payload, "id": id}):
            return id
        if self._refused or self._final:
            # The store refuses appends after `final`: counted here, never sent.
            self._count("rejected", 1)
            self._warn_once(
                "after-final",
                "replaydeck: session %s already has its final event; %r and later events "
                "are not recorded (counted in stats.rejected)",
                self.id,
                type,
            )
            return id
        if self._task.done():
            self._count("dropped", 1)  # emitted after aclose(): no sender is left
            self._warn_once(
                "after-close",
                "replaydeck: session %s was closed; %r and later events are not recorded "
                "(counted in stats.dropped)",
                self.id,
                type,
            )
            return id
        if len(self._buffer) >= self._recorder.buffer_size:
            self._buffer.popleft()
            self._count("dropped", 1)
        moment = ts if ts is not None else self._recorder.clock()
        self._final = type == "final"
        self._buffer.append({"type": type, "data": payload, "id": id, "ts": format_ts(moment)})
        self._idle.clear()
        self._wakeup.set()
        return id

    def _valid(self, event: dict[str, Any]) -> bool:
        try:
            validate_event(event, max_bytes=self.max_event_bytes)
        except (InvalidEvent, PayloadTooLarge) as e:
            if self.on_invalid == "raise":
                raise
            self._count("invalid", 1)
            self._warn_once(
                "invalid",
                "replaydeck: session %s dropped an invalid event (this one is logged, every "
                "one is counted in stats.invalid): %s",
                self.id,
                e.detail,
            )
            return False
        return True

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def end_with_final(
        self, error: BaseException | None = None, *, data: Mapping[str, Any] | None = None
    ) -> None:
        """Queue a synthetic `final` unless the session already has one (or is closing):
        reason "complete", or "error"/"cancelled" with the exception's type; `data`
        replaces that payload."""
        if self._final or self._refused or self._closing or self._task.done():
            return
        if data is not None:
            self.emit_nowait("final", data)
            return
        data = {"synthetic": True, "reason": "complete"}
        if isinstance(error, asyncio.CancelledError):
            data["reason"] = "cancelled"
        elif error is not None:
            data.update(reason="error", exception_type=type(error).__name__)
        self.emit_nowait("final", data)

    async def flush(self) -> None:
        """Wait until every queued event was sent or refused (bound it with anyio.fail_after)."""
        await self._idle.wait()

    async def aclose(self, grace: float | None = None) -> None:
        """Flush, then stop the sender; what is still unsent after `grace` s is dropped."""
        timeout = self._recorder.flush_timeout if grace is None else grace
        if self.final_on_close is not None:
            self.end_with_final(data=self.final_on_close())
        self._closing = True
        self._wakeup.set()
        with anyio.CancelScope(shield=True):
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                lost = len(self._buffer) + self._inflight
                self._buffer.clear()
                self._room.set()  # release producers waiting under the `wait` policy
                self._idle.set()
                self._count("dropped", lost)
                log.warning("replaydeck: session %s closed with %d events unsent", self.id, lost)
        self._recorder._forget(self)

    def _count(self, field: str, n: int) -> None:
        for stats in (self.stats, self._recorder.stats):
            setattr(stats, field, getattr(stats, field) + n)

    async def _run(self) -> None:
        if self._metadata is not None:
            body = {"id": self.id, "metadata": dict(self._metadata)}
            await self._deliver("/v1/sessions", body, 0)
        path = f"/v1/sessions/{quote(self.id, safe='')}/events"
        recorder = self._recorder
        while True:
            if not self._buffer:
                self._idle.set()
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if len(self._buffer) < recorder.batch_size and not self._closing:
                # A short linger gathers a burst of deltas into one request.
                await asyncio.sleep(recorder.linger)
            batch = [
                self._buffer.popleft() for _ in range(min(recorder.batch_size, len(self._buffer)))
            ]
            self._inflight = len(batch)
            self._room.set()
            await self._deliver(path, batch, len(batch))
            self._inflight = 0

    async def _deliver(self, path: str, body: Any, count: int) -> None:
        """POST until the store answers; retry transport errors, 5xx, 408 and 429."""
        recorder = self._recorder
        delay = recorder.retry_initial
        while True:
            try:
                # orjson, as `emit` checked it: it also writes datetimes and UUIDs.
                response = await recorder.client.post(
                    path, content=orjson.dumps(body), headers=JSON_HEADERS
                )
            except httpx.HTTPError as e:
                log.debug("replaydeck: store unreachable (%s), retrying in %.2fs", e, delay)
            else:
                status = response.status_code
                if response.is_success or (count == 0 and status == 409):
                    self._count("sent", count)
                    return
                if status == 409 and is_synthetic_final(body):
                    # The producer ended the session itself; the capture's end is moot.
                    self._refused = True
                    log.info("replaydeck: session %s was already ended in the store", self.id)
                    return
                if status == 409:
                    # The session is final: nothing more will be accepted, now or later.
                    self._refused = True
                    lost = count + len(self._buffer)
                    self._count("rejected", lost)
                    self._buffer.clear()
                    self._room.set()
                    log.warning(
                        "replaydeck: session %s is already final in the store; %d events "
                        "refused (counted in stats.rejected)",
                        self.id,
                        lost,
                    )
                    return
                if count > 1 and (status == 413 or refuses_an_event(response)):
                    # Over the store's request limit, or one event the store refuses (a
                    # store with other limits or a newer schema than this SDK): halve until
                    # it fits, so only the event that is refused on its own is lost.
                    half = count // 2
                    await self._deliver(path, body[:half], half)
                    await self._deliver(path, body[half:], count - half)
                    return
                if 400 <= status < 500 and status not in (408, 429):
                    self._count("rejected", count)
                    log.warning(
                        "replaydeck: session %s: the store refused %d event(s) (counted in "
                        "stats.rejected): %s",
                        self.id,
                        count,
                        response.text,
                    )
                    return
            self._count("retries", 1)
            await asyncio.sleep(delay)
            delay = min(delay * 2, recorder.retry_max)


def is_synthetic_final(batch: Any) -> bool:
    """A batch that is only a `final` the SDK or the capture made up, not the app's
    (marked `synthetic`, or a capture's run end, which counts its `turns`)."""
    if not isinstance(batch, list) or len(batch) != 1:
        return False
    event, data = batch[0], batch[0].get("data", {})
    return event.get("type") == "final" and (bool(data.get("synthetic")) or "turns" in data)


def refuses_an_event(response: httpx.Response) -> bool:
    """The store refused one event of the batch, not the request as a whole (a bad
    session id or key would be refused for every half as well)."""
    if response.status_code != 422:
        return False
    try:
        problem = response.json()
    except ValueError:
        return False
    return isinstance(problem, dict) and problem.get("type") == INVALID_EVENT_PROBLEM


class Recorder:
    """Sends sessions to a replaydeck server. One per app; share it between tasks."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        buffer_size: int = 10_000,
        overflow: Overflow = "drop_oldest",
        on_invalid: OnInvalid = "raise",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        batch_size: int = 200,
        linger: float = 0.02,
        retry_initial: float = 0.1,
        retry_max: float = 2.0,
        flush_timeout: float = 5.0,
        request_timeout: float = 10.0,
        clock: Clock = utc_now,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if overflow not in ("drop_oldest", "wait"):
            raise ValueError(f"overflow must be 'drop_oldest' or 'wait', not {overflow!r}")
        if on_invalid not in ("raise", "drop"):
            raise ValueError(f"on_invalid must be 'raise' or 'drop', not {on_invalid!r}")
        if buffer_size < 1 or batch_size < 1:
            raise ValueError("buffer_size and batch_size must be at least 1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=request_timeout,
            transport=transport,
        )
        self.buffer_size = buffer_size
        self.overflow = overflow
        self.on_invalid: OnInvalid = on_invalid
        self.max_event_bytes = max_event_bytes
        self.batch_size = batch_size
        self.linger = linger
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.flush_timeout = flush_timeout
        self.clock = clock
        self.stats = RecorderStats()
        self._open: set[RecordingSession] = set()

    def open(
        self,
        id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        on_invalid: OnInvalid | None = None,
    ) -> RecordingSession:
        """Start a session whose life is not one `async with` block; `aclose()` it.
        Ending it is the caller's business: `end_with_final()` or an emitted `final`."""
        session = RecordingSession(self, id or uuid.uuid4().hex, metadata, on_invalid)
        self._open.add(session)
        return session

    @contextlib.asynccontextmanager
    async def session(
        self, id: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> AsyncIterator[RecordingSession]:
        """A session that ends with the block: `final` is sent on the way out unless the
        code sent one (marked with the reason, and the exception's type on an error)."""
        session = self.open(id, metadata)
        try:
            yield session
        except BaseException as e:
            session.end_with_final(e)
            raise
        else:
            session.end_with_final()
        finally:
            await session.aclose()

    def _forget(self, session: RecordingSession) -> None:
        self._open.discard(session)

    async def aclose(self) -> None:
        # Concurrently, so a store that is down costs one flush_timeout, not one per session.
        await asyncio.gather(*(session.aclose() for session in list(self._open)))
        await self.client.aclose()

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
