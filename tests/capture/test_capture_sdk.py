"""The recorder SDK against a real replaydeck: normal use, the store down and back on
the same port, both overflow policies, lost responses, and a final session."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from replaydeck.capture.sdk import Recorder
from replaydeck.config import Settings
from tests.capture.helpers import replaydeck_on, reserve_port
from tests.servers import RunningServer
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


async def stored(url: str, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/v1/sessions/{session_id}/events")
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def test_a_session_is_recorded_in_order_with_client_ids(server: RunningServer) -> None:
    async with Recorder(server.url) as recorder:
        async with recorder.session(metadata={"user": "u1"}) as s:
            ids = [await s.emit("message.delta", {"text": t}) for t in ("Hel", "lo")]
            await s.emit("tool.call", {"name": "search", "args": {"q": "x"}, "call_id": "c1"})
            await s.emit("final", {})
        assert recorder.stats.sent == 4
        assert recorder.stats.dropped == recorder.stats.rejected == 0
    events = await stored(server.url, s.id)
    assert [e["type"] for e in events] == ["message.delta", "message.delta", "tool.call", "final"]
    assert [e["id"] for e in events[:2]] == ids
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    async with httpx.AsyncClient() as client:
        session = (await client.get(f"{server.url}/v1/sessions/{s.id}")).json()
    assert session["metadata"] == {"user": "u1"}
    assert session["status"] == "complete"


async def test_store_down_then_back_on_the_same_port(settings: Settings) -> None:
    sock = reserve_port()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with Recorder(url, retry_initial=0.01, retry_max=0.05) as recorder:
        s = recorder.open("down-then-up")
        for i in range(5):
            await s.emit("status", {"label": f"step {i}"})
        # The caller went on at once; the sender keeps failing in the background.
        await eventually(lambda: recorder.stats.retries >= 3)
        assert recorder.stats.sent == 0
        with replaydeck_on(sock, settings):
            with anyio.fail_after(10):
                await s.flush()
            await s.emit("final", {})
            await s.aclose()
            events = await stored(url, "down-then-up")
    assert [e["data"].get("label") for e in events] == [f"step {i}" for i in range(5)] + [None]
    assert recorder.stats.sent == 6
    assert recorder.stats.dropped == 0


async def test_drop_oldest_keeps_the_newest_and_counts(settings: Settings) -> None:
    sock = reserve_port()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    recorder = Recorder(url, buffer_size=3, batch_size=1, retry_initial=0.01, retry_max=0.05)
    s = recorder.open("dropping")
    await s.emit("status", {"label": "0"})
    # The first event is in flight (held for retry, never dropped); the buffer holds 3.
    await eventually(lambda: recorder.stats.retries >= 1)
    for i in range(1, 8):
        await s.emit("status", {"label": str(i)})
    assert s.stats.dropped == 4
    with replaydeck_on(sock, settings):
        await s.aclose(grace=10)
        labels = [e["data"]["label"] for e in await stored(url, "dropping")]
    await recorder.aclose()
    assert labels == ["0", "5", "6", "7"]


async def test_wait_policy_holds_the_producer_until_there_is_room(settings: Settings) -> None:
    sock = reserve_port()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    recorder = Recorder(
        url, buffer_size=2, batch_size=1, overflow="wait", retry_initial=0.01, retry_max=0.05
    )
    s = recorder.open("waiting")
    emitted: list[int] = []

    async def produce() -> None:
        for i in range(6):
            await s.emit("status", {"label": str(i)})
            emitted.append(i)

    async with anyio.create_task_group() as tg:
        tg.start_soon(produce)
        await eventually(lambda: recorder.stats.retries >= 2)
        # One in flight, two buffered, the fourth emit waits: nothing is lost.
        assert emitted == [0, 1, 2]
        with replaydeck_on(sock, settings):
            await eventually(lambda: len(emitted) == 6)
            await s.aclose(grace=10)
            labels = [e["data"]["label"] for e in await stored(url, "waiting")]
    await recorder.aclose()
    assert labels == [str(i) for i in range(6)]
    assert recorder.stats.dropped == 0


class LoseFirstResponse(httpx.AsyncHTTPTransport):
    """The request reaches the store, the answer is lost: the SDK must retry safely."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self.lost == 0 and request.url.path.endswith("/events"):
            self.lost += 1
            await response.aclose()
            raise httpx.ReadTimeout("response lost", request=request)
        return response


async def test_a_retried_batch_is_stored_once(server: RunningServer) -> None:
    transport = LoseFirstResponse()
    recorder = Recorder(server.url, transport=transport, retry_initial=0.01)
    async with recorder, recorder.session("retried") as s:
        for text in ("a", "b", "c"):
            await s.emit("message.delta", {"text": text})
    assert transport.lost == 1
    assert recorder.stats.retries >= 1
    events = await stored(server.url, "retried")
    assert [e["data"].get("text") for e in events] == ["a", "b", "c", None]
    assert events[-1]["data"] == {"synthetic": True, "reason": "complete"}


async def test_events_after_final_are_refused_and_counted(server: RunningServer) -> None:
    async with Recorder(server.url) as recorder:
        async with recorder.session("closed") as s:
            await s.emit("final", {})
            with anyio.fail_after(10):
                await s.flush()
            await s.emit("status", {"label": "late"})
        assert s.stats.rejected == 1
    assert [e["type"] for e in await stored(server.url, "closed")] == ["final"]


async def test_a_batch_over_the_request_limit_is_split_until_it_fits(settings: Settings) -> None:
    small = settings.model_copy(update={"max_request_bytes": 4096})
    sock = reserve_port()
    with replaydeck_on(sock, small) as url:
        recorder = Recorder(url, linger=0.05)
        async with recorder, recorder.session("split") as s:
            for i in range(20):
                s.emit_nowait("status", {"label": f"{i:03d} " + "x" * 600})
            s.emit_nowait("status", {"label": "y" * 8000})  # too large even alone
        events = await stored(url, "split")
    assert [e["data"]["label"][:3] for e in events[:-1]] == [f"{i:03d}" for i in range(20)]
    assert events[-1]["type"] == "final"
    assert (recorder.stats.sent, recorder.stats.rejected) == (21, 1)


async def test_an_emit_after_close_is_counted_not_lost_silently(server: RunningServer) -> None:
    async with Recorder(server.url) as recorder:
        async with recorder.session("after-close") as s:
            await s.emit("status", {"label": "in time"})
        await s.emit("status", {"label": "too late"})
    # The session left the block with its final, so the late event is refused here.
    assert (s.stats.sent, s.stats.rejected) == (2, 1)


def test_unknown_overflow_policy_is_explained() -> None:
    with pytest.raises(ValueError, match="overflow must be 'drop_oldest' or 'wait'"):
        Recorder("http://127.0.0.1:1", overflow="block")  # type: ignore[arg-type]
