"""What ingest announces to the hub, and when: after the commit, whatever the producer does."""

from __future__ import annotations

import asyncio

import pytest

from replaydeck.config import Settings
from replaydeck.ingest.service import Ingest
from replaydeck.live.hub import Hub
from replaydeck.store.sql import SqlStore
from tests.store.contract import ev
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


async def test_a_committed_append_is_announced_even_when_its_producer_left(
    store: SqlStore,
) -> None:
    hub = Hub()
    ingest = Ingest(store=store, hub=hub, settings=Settings())
    await ingest.append("s", [ev(id="a")])  # the session exists: no reads before the next
    with hub.subscribe("s") as subscription:
        producer = asyncio.ensure_future(ingest.append("s", [ev(id="b")]))
        await asyncio.sleep(0)  # ok: one loop turn, so the append is with the writer
        producer.cancel()  # the client disconnected while the commit ran
        # Followers are woken, and the frame is in the hub's window for them.
        await eventually(lambda: subscription.watermark == 2)
        assert [e.id for e in await store.read("s")] == ["a", "b"]
        recent = subscription.frames_after(1)
        assert recent is not None
        assert recent[0].startswith(b"id: 2\n")
