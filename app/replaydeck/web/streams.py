"""Open streams by client: the per-client limit, and ending a client's streams at once.

A client is an API key, a share link, or, when the API is open, a remote address.
Each open stream (live tail, replay, NDJSON download) holds a lease on one of its
client's slots from the moment it is admitted until it ends, so a client at
REPLAYDECK_MAX_STREAMS_PER_CLIENT is refused with 429 until one of its streams
ends. A lease can also stop its stream: a revoked share link ends its streams at
once, a share link's streams end when it expires, and an API key's streams end
once it is revoked (even by `replaydeck keys revoke` in another process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from replaydeck.errors import StoreUnavailable, TooManyStreams

log = logging.getLogger("replaydeck")

KEY_PREFIX = "key:"


class StreamLease:
    """One open stream's slot; the stream attaches how to stop it when it starts."""

    __slots__ = ("_stop", "_timer", "client", "stopped")

    def __init__(self, client: StreamClient) -> None:
        self.client = client
        self._stop: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.stopped = False

    def attach(self, stop: Callable[[], None]) -> None:
        if self.stopped:
            stop()  # stopped between its admission and its first send
            return
        self._stop = stop
        if self.client.expires_at is not None:
            self._timer = asyncio.get_running_loop().call_at(self.client.expires_at, self.stop)

    def stop(self) -> None:
        self.stopped = True
        if self._stop is not None:
            self._stop()

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._stop = None
        self.client.streams.release(self)


@dataclass(frozen=True, slots=True)
class StreamClient:
    """Who opens a stream: `key` groups its streams, `label` names it in a refusal."""

    streams: OpenStreams
    key: str
    label: str
    # A share link's expiry on the event loop's clock: its streams end then.
    expires_at: float | None = None

    def admit(self) -> StreamLease:
        """A lease for a new stream; TooManyStreams when the client is at its limit."""
        return self.streams.admit(self)


def share_key(share_id: str) -> str:
    return f"share:{share_id}"


class OpenStreams:
    def __init__(self, per_client: int, *, retry_after: int) -> None:
        self.per_client = per_client  # 0: no limit
        self.retry_after = retry_after
        self._open: dict[str, set[StreamLease]] = {}

    def api_key(self, key_id: str) -> StreamClient:
        return StreamClient(self, KEY_PREFIX + key_id, f"API key {key_id}")

    def address(self, host: str) -> StreamClient:
        return StreamClient(self, f"address:{host}", f"Address {host}")

    def share(self, share_id: str, *, expires_in: float) -> StreamClient:
        expires_at = asyncio.get_running_loop().time() + expires_in
        return StreamClient(self, share_key(share_id), "This replay link", expires_at)

    def admit(self, client: StreamClient) -> StreamLease:
        leases = self._open.setdefault(client.key, set())
        if self.per_client and len(leases) >= self.per_client:
            raise TooManyStreams(client.label, self.per_client, self.retry_after)
        lease = StreamLease(client)
        leases.add(lease)
        return lease

    def release(self, lease: StreamLease) -> None:
        leases = self._open.get(lease.client.key)
        if leases is not None:
            leases.discard(lease)
            if not leases:
                del self._open[lease.client.key]

    def stop(self, client_key: str) -> None:
        """End every open stream of a client now."""
        for lease in list(self._open.get(client_key, ())):
            lease.stop()

    def count(self, client_key: str) -> int:
        return len(self._open.get(client_key, ()))

    def api_key_ids(self) -> set[str]:
        """The API keys that hold open streams."""
        return {key[len(KEY_PREFIX) :] for key in self._open if key.startswith(KEY_PREFIX)}


class Keys(Protocol):
    async def active(self, key_ids: Collection[str]) -> set[str]: ...


async def end_streams_of_revoked_keys(
    open_streams: OpenStreams, keys: Keys, *, interval: float
) -> None:
    """Every `interval` seconds, end the open streams of API keys revoked since they
    opened them; runs for the app's lifetime. One query a round, and none while no
    key holds a stream."""
    while True:
        await asyncio.sleep(interval)
        holding = open_streams.api_key_ids()
        if not holding:
            continue
        try:
            revoked = holding - await keys.active(holding)
        except StoreUnavailable:
            continue  # the database is away; ask again next round
        for key_id in revoked:
            log.info("API key %s was revoked; ending its open streams", key_id)
            open_streams.stop(KEY_PREFIX + key_id)
