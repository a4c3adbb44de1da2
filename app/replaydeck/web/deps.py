"""Request dependencies as Annotated aliases, so route signatures read like prose.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a
thread pool, which for a one-line attribute lookup costs a thread hop each.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from replaydeck.config import Settings
from replaydeck.ingest.service import Ingest
from replaydeck.live.hub import Hub
from replaydeck.replay.clock import Clock
from replaydeck.sse import StreamCounter
from replaydeck.store.base import EventStore
from replaydeck.web.access import api_key_of
from replaydeck.web.streams import OpenStreams, StreamClient


async def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


async def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _ingest(request: Request) -> Ingest:
    ingest: Ingest = request.app.state.ingest
    return ingest


async def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def _streams(request: Request) -> StreamCounter:
    streams: StreamCounter = request.app.state.streams
    return streams


async def _open_streams(request: Request) -> OpenStreams:
    open_streams: OpenStreams = request.app.state.open_streams
    return open_streams


async def _stream_client(request: Request) -> StreamClient:
    """Whose stream this is, for the per-client limit: the caller's API key, else
    (an open API, where a made-up key must not buy more streams) its address."""
    open_streams: OpenStreams = request.app.state.open_streams
    key = api_key_of(request.scope)
    if key is not None:
        return open_streams.api_key(key.id)
    peer = request.client
    return open_streams.address(peer.host if peer is not None else "unknown")


StoreDep = Annotated[EventStore, Depends(_store)]
HubDep = Annotated[Hub, Depends(_hub)]
SettingsDep = Annotated[Settings, Depends(_settings)]
IngestDep = Annotated[Ingest, Depends(_ingest)]
ClockDep = Annotated[Clock, Depends(_clock)]
StreamsDep = Annotated[StreamCounter, Depends(_streams)]
OpenStreamsDep = Annotated[OpenStreams, Depends(_open_streams)]
StreamClientDep = Annotated[StreamClient, Depends(_stream_client)]
