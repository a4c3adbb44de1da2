"""Browser fixtures for the viewer tests: Debian's Chromium driven by Playwright.

No browser is ever downloaded: Playwright drives /usr/bin/chromium (installed by
scripts/system-deps). Tests that need it are skipped with a reason when it is absent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import uvicorn
from fastapi import FastAPI, Query
from fastapi.responses import StreamingResponse

from app.share import viewer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: run `apt-get install -y chromium`")
    sync_api = pytest.importorskip("playwright.sync_api")
    # One browser process for the whole run: starting Chromium is the slow part, and
    # each test still gets a fresh context (no shared cookies or storage).
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# ---------------------------------------------------------------- stub API
# Until the core lands, a stand-in serves the three endpoints the page reads, from a
# fixed list of envelopes, with the viewer router mounted as the real app will.

SESSION_ID = "demo-1"


def sample_events() -> list[dict[str, Any]]:
    rows: list[tuple[float, str, dict[str, Any]]] = [
        (0, "status", {"label": "Thinking…"}),
        (300, "tool.call", {"name": "web.search", "args": {"q": "sse reconnect"}, "call_id": "c1"}),
        (1650, "tool.result", {"name": "web.search", "call_id": "c1", "result": {"hits": 3}}),
        (1800, "message.delta", {"text": "Browsers reconnect ", "message_id": "m1"}),
        (1850, "message.delta", {"text": "<img src=x onerror=alert(1)>", "message_id": "m1"}),
        (1900, "message.delta", {"text": " with Last-Event-ID.", "message_id": "m1"}),
        (2000, "tool.call", {"name": "calc", "args": {"expr": "1/0"}, "call_id": "c2"}),
        (
            2100,
            "tool.result",
            {"name": "calc", "call_id": "c2", "result": "div by zero", "is_error": True},
        ),
        (2200, "error", {"message": "The calculator failed.", "code": "tool_failed"}),
        (2300, "final", {"usage": {"input_tokens": 120, "output_tokens": 48}}),
    ]
    return [
        {
            "seq": i,
            "id": f"e{i}",
            "type": kind,
            "ts": "2026-11-23T10:00:00Z",
            "offset_ms": float(offset),
            "data": data,
        }
        for i, (offset, kind, data) in enumerate(rows, start=1)
    ]


def stub_app(events: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()
    app.include_router(viewer.router)
    base = f"/v1/sessions/{SESSION_ID}"

    @app.get(base)
    async def session() -> dict[str, Any]:
        return {
            "id": SESSION_ID,
            "status": "complete",
            "metadata": {"title": "Weather agent"},
            "created_at": "2026-11-23T10:00:00Z",
            "first_ts": "2026-11-23T10:00:00Z",
            "last_ts": "2026-11-23T10:00:02.300Z",
            "duration_ms": 2300.0,
            "event_count": len(events),
            "last_seq": len(events),
            "trace_id": "ab" * 16,
            "jaeger_url": "http://jaeger.example/trace/" + "ab" * 16,
        }

    @app.get(base + "/events")
    async def read(after: int = 0, limit: int = 100) -> dict[str, Any]:
        page = [e for e in events if e["seq"] > after][:limit]
        last = page[-1]["seq"] if page else None
        return {"events": page, "next_after": last if last and last < len(events) else None}

    @app.get(base + "/replay")
    async def replay(start: Annotated[int, Query(alias="from")] = 1) -> StreamingResponse:
        return StreamingResponse(replay_stream(events, start), media_type="text/event-stream")

    return app


async def replay_stream(events: list[dict[str, Any]], start: int) -> AsyncIterator[bytes]:
    yield b"retry: 3000\n\n"
    sent = [e for e in events if e["seq"] >= start]
    for e in sent:
        yield f"id: {e['seq']}\nevent: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
    end = {"reason": "complete", "count": len(sent)}
    yield f"event: replay.end\ndata: {json.dumps(end)}\n\n".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stub_server() -> Iterator[str]:
    config = uvicorn.Config(
        stub_app(sample_events()),
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the stub server did not start within 10 s"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{config.port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def viewer_url(stub_server: str) -> str:
    return f"{stub_server}/sessions/{SESSION_ID}"
