"""The recorder SDK against a real replaydeck: one bad event never costs its good
neighbours (checked at emit, by either policy, and split out when the store refuses
it), and leaving `recorder.session()` sends `final` exactly once."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import anyio
import httpx
import pytest

from replaydeck.capture.sdk import Recorder
from replaydeck.errors import InvalidEvent
from tests.capture.test_capture_sdk import stored
from tests.servers import RunningServer

pytestmark = pytest.mark.anyio

GOOD = [("message.delta", {"text": f"part {i} "}) for i in range(8)]
# A typo: `tool.call` without the call id the store requires.
BAD = ("tool.call", {"name": "search", "args": {"q": "sse"}, "callid": "c1"})


async def test_raise_policy_refuses_the_bad_event_at_emit_and_keeps_the_rest(
    server: RunningServer,
) -> None:
    async with Recorder(server.url, linger=0.05) as recorder, recorder.session("raising") as s:
        for kind, data in GOOD[:4]:
            s.emit_nowait(kind, data)
        with pytest.raises(InvalidEvent, match=r"tool\.call.*call_id"):
            s.emit_nowait(*BAD)
        for kind, data in GOOD[4:]:
            await s.emit(kind, data)
    events = await stored(server.url, "raising")
    assert [e["data"].get("text") for e in events[:-1]] == [d["text"] for _, d in GOOD]
    assert events[-1]["type"] == "final"
    assert (recorder.stats.sent, recorder.stats.rejected, recorder.stats.invalid) == (9, 0, 0)


async def test_drop_policy_drops_and_counts_the_bad_event_and_logs_it_once(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="replaydeck.capture")
    recorder = Recorder(server.url, linger=0.05, on_invalid="drop")
    async with recorder, recorder.session("dropping-bad") as s:
        for i, (kind, data) in enumerate(GOOD):
            s.emit_nowait(kind, data)
            if i in (2, 5):
                s.emit_nowait(*BAD)
        s.emit_nowait("Not A Type", {})
    events = await stored(server.url, "dropping-bad")
    assert [e["data"].get("text") for e in events[:-1]] == [d["text"] for _, d in GOOD]
    assert s.stats.invalid == recorder.stats.invalid == 3
    assert (recorder.stats.sent, recorder.stats.rejected) == (9, 0)
    logged = [r.getMessage() for r in caplog.records if "invalid event" in r.getMessage()]
    assert len(logged) == 1
    assert "dropping-bad" in logged[0]
    assert "call_id" in logged[0]


class SkewedStore(httpx.AsyncHTTPTransport):
    """Corrupts one event on the wire, as an SDK older or newer than its store would
    send one that passed its own check: the store refuses the batch it is in."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            body = json.loads(await request.aread())
            for event in body:
                if event["data"].get("label") == self.label:
                    event["data"]["label"] = 42
            headers = {k: v for k, v in request.headers.items() if k != "content-length"}
            request = httpx.Request(request.method, request.url, headers=headers, json=body)
        return await super().handle_async_request(request)


async def test_a_batch_the_store_refuses_for_one_event_keeps_the_others(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="replaydeck.capture")
    recorder = Recorder(server.url, linger=0.05, transport=SkewedStore("step 5"))
    async with recorder, recorder.session("skewed") as s:
        for i in range(9):
            s.emit_nowait("status", {"label": f"step {i}"})
    events = await stored(server.url, "skewed")
    labels = [e["data"].get("label") for e in events if e["type"] == "status"]
    assert labels == [f"step {i}" for i in range(9) if i != 5]
    assert events[-1]["type"] == "final"
    assert (recorder.stats.sent, recorder.stats.rejected) == (9, 1)
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1
    assert "skewed" in refused[0]
    assert "data.label" in refused[0]


class CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.posts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.posts += request.method == "POST"
        return await super().handle_async_request(request)


async def test_a_batch_refused_as_a_whole_is_not_split(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A session id the store refuses: every half would be refused too.
    caplog.set_level(logging.WARNING, logger="replaydeck.capture")
    transport = CountingTransport()
    recorder = Recorder(server.url, linger=0.05, transport=transport)
    async with recorder, recorder.session("sp ace") as s:
        for i in range(8):
            s.emit_nowait("status", {"label": f"step {i}"})
    assert (recorder.stats.sent, recorder.stats.rejected) == (0, 9)
    assert transport.posts <= 2  # the eight, and the final if it missed their batch
    assert all("sp ace" in r.getMessage() for r in caplog.records)
    assert 1 <= len(caplog.records) <= 2


async def final_events(url: str, session_id: str) -> list[dict[str, Any]]:
    return [e for e in await stored(url, session_id) if e["type"] == "final"]


async def test_leaving_the_block_sends_final(server: RunningServer) -> None:
    async with Recorder(server.url) as recorder, recorder.session("normal") as s:
        await s.emit("status", {"label": "working"})
    [final] = await final_events(server.url, "normal")
    assert final["data"] == {"synthetic": True, "reason": "complete"}
    async with httpx.AsyncClient() as client:
        session = (await client.get(f"{server.url}/v1/sessions/normal")).json()
    assert session["status"] == "complete"


async def test_an_exception_sends_final_with_the_reason_and_propagates(
    server: RunningServer,
) -> None:
    async def fail(recorder: Recorder) -> None:
        async with recorder.session("failing") as s:
            await s.emit("status", {"label": "working"})
            raise LookupError("no such tool")

    async with Recorder(server.url) as recorder:
        with pytest.raises(LookupError, match="no such tool"):
            await fail(recorder)
    [final] = await final_events(server.url, "failing")
    assert final["data"] == {"synthetic": True, "reason": "error", "exception_type": "LookupError"}
    assert recorder.stats.rejected == 0


async def test_a_cancelled_block_sends_final_marked_cancelled(server: RunningServer) -> None:
    async with Recorder(server.url) as recorder:
        with anyio.move_on_after(0.05):
            async with recorder.session("cancelled") as s:
                await s.emit("status", {"label": "working"})
                await anyio.sleep_forever()
    [final] = await final_events(server.url, "cancelled")
    assert final["data"] == {"synthetic": True, "reason": "cancelled"}


@pytest.mark.parametrize("fail", [False, True])
async def test_a_final_the_code_sent_is_not_sent_again(server: RunningServer, fail: bool) -> None:
    async with Recorder(server.url) as recorder:
        with pytest.raises(RuntimeError) if fail else contextlib.nullcontext():
            async with recorder.session("own-final") as s:
                await s.emit("final", {"usage": {"output_tokens": 3}})
                if fail:
                    raise RuntimeError("after the final")
    [final] = await final_events(server.url, "own-final")
    assert final["data"] == {"usage": {"output_tokens": 3}}
    assert (recorder.stats.sent, recorder.stats.rejected) == (1, 0)


async def test_an_invalid_final_does_not_count_as_sent(server: RunningServer) -> None:
    recorder = Recorder(server.url, on_invalid="drop")
    async with recorder, recorder.session("bad-final") as s:
        await s.emit("final", {"usage": "nine tokens"})
    [final] = await final_events(server.url, "bad-final")
    assert final["data"]["reason"] == "complete"
    assert recorder.stats.invalid == 1


def test_unknown_invalid_policy_is_explained() -> None:
    with pytest.raises(ValueError, match="on_invalid must be 'raise' or 'drop'"):
        Recorder("http://127.0.0.1:1", on_invalid="ignore")  # type: ignore[arg-type]
