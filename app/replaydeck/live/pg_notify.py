"""Cross-replica watermarks over PostgreSQL LISTEN/NOTIFY.

Sending: the append itself calls `pg_notify` inside its transaction (see
`notify_statement`, used by replaydeck.store.sql). PostgreSQL delivers a notification
only when that transaction commits, so another replica is never told about a
write that did not happen, and a replica that dies right after its commit
cannot forget to tell the others (which sending after the commit from a hook
on the hub could). The local hub is still told directly, after the commit, by
the ingest pipeline.

Receiving: each replica keeps one dedicated asyncpg connection that LISTENs.
A notice about a session nobody here follows, or one this replica already
knows (its own appends), costs nothing. For a followed session the notifier
reads the new events from the log once and publishes them with the watermark,
so they fill the hub's frame window and every local follower takes its frames
from there: one read per notice per replica, not one per follower. The
connection reconnects by itself with backoff; after every (re)connect it
re-reads the watermark of each followed session, because notices sent while
it was away are gone for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy.engine import make_url

from replaydeck.errors import StoreUnavailable
from replaydeck.live.hub import Hub
from replaydeck.store.notices import CHANNEL, DELETED, REVOKED_CHANNEL, decode_notice

if TYPE_CHECKING:
    from replaydeck.store.base import EventStore

log = logging.getLogger("replaydeck.notify")


def listen_dsn(database_url: str) -> str:
    """The asyncpg DSN for a SQLAlchemy `postgresql+asyncpg://` URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgNotifier:
    def __init__(
        self,
        dsn: str,
        hub: Hub,
        *,
        store: EventStore | None = None,
        page_size: int = 500,
        on_lag: Callable[[float], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
        on_revoked: Callable[[str], None] | None = None,
        retry_initial: float = 0.05,
        retry_max: float = 2.0,
        check_interval: float = 5.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.hub = hub
        # Without a store, notices only move watermarks and followers read the log.
        self.store = store
        self.page_size = page_size
        # Per session: the highest seq heard of, and the one read in flight.
        self._heard: dict[str, int] = {}
        self._reading: dict[str, asyncio.Task[None]] = {}
        self.on_lag = on_lag
        self.on_reconnect = on_reconnect
        self.on_revoked = on_revoked
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        # A dead peer (cable pulled, host gone) sends no FIN; a periodic
        # round trip is the only way to notice it on an idle connection.
        self.check_interval = check_interval
        self.connect_timeout = connect_timeout
        self.connected = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self.connected.is_set()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after every failure."""
        delay = self.retry_initial
        first = True
        while True:
            try:
                connection = await asyncpg.connect(self.dsn, timeout=self.connect_timeout)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("LISTEN connection failed, retrying in %.2f s: %s", delay, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            try:
                await self._serve(connection, first=first)
                delay = self.retry_initial
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("LISTEN connection lost: %s", e)
            finally:
                self.connected.clear()
                connection.terminate()
            first = False
            log.warning("LISTEN connection lost; reconnecting")

    async def _serve(self, connection: Any, *, first: bool) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        # LISTEN before re-reading watermarks, so no commit falls between them.
        await connection.add_listener(CHANNEL, self._on_notify)
        if self.on_revoked is not None:
            await connection.add_listener(REVOKED_CHANNEL, self._on_revoked)
        await self._resync(connection)
        self.connected.set()
        if not first and self.on_reconnect is not None:
            self.on_reconnect()
        log.info("listening for watermarks on channel %s", CHANNEL)
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self.check_interval)
                return
            await asyncio.wait_for(connection.fetchval("SELECT 1"), self.connect_timeout)

    async def _resync(self, connection: Any) -> None:
        watched = self.hub.sessions
        if not watched:
            return
        rows = await connection.fetch(
            "SELECT id, last_seq FROM sessions WHERE id = ANY($1::text[])", watched
        )
        found = {row["id"]: row["last_seq"] for row in rows}
        for session_id in watched:
            if session_id in found:
                # Followers read what they missed from the log themselves.
                self.hub.publish(session_id, found[session_id], local=False)
            else:
                self.hub.remove(session_id)

    def _on_revoked(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if self.on_revoked is not None:
            self.on_revoked(payload)

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        notice = decode_notice(payload)
        if notice is None:
            log.warning("ignoring a malformed notice on %s: %r", CHANNEL, payload[:100])
            return
        if self.on_lag is not None:
            self.on_lag(max(0.0, time.time_ns() // 1000 - notice.sent_us) / 1e6)
        session_id = notice.session_id
        if notice.last_seq == DELETED:
            self.hub.remove(session_id)
            return
        known = self.hub.watermark(session_id)
        if known is None or notice.last_seq <= known:
            return  # nobody here follows it, or it was this replica's own append
        if self.store is None:
            self.hub.publish(session_id, notice.last_seq, local=False)
            return
        self._heard[session_id] = max(notice.last_seq, self._heard.get(session_id, 0))
        if session_id not in self._reading:
            # One read at a time per session; notices during it extend the read.
            self._reading[session_id] = asyncio.get_running_loop().create_task(
                self._read_new(session_id, self.store)
            )

    async def _read_new(self, session_id: str, store: EventStore) -> None:
        try:
            while True:
                after = self.hub.watermark(session_id)
                heard = self._heard.get(session_id, 0)
                if after is None or after >= heard:
                    return
                events = await store.read(session_id, after=after, limit=self.page_size)
                if not events:
                    break
                self.hub.publish(session_id, events[-1].seq, local=False, events=events)
        except StoreUnavailable:
            log.warning("could not read %r after a notice; its followers will", session_id)
        finally:
            del self._reading[session_id]
            heard = self._heard.pop(session_id, 0)
        # Whatever the read did not cover, followers read from the log themselves.
        self.hub.publish(session_id, heard, local=False)
