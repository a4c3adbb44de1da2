"""Browser fixtures for the viewer tests: Debian's Chromium driven by Playwright.

No browser is ever downloaded: Playwright drives /usr/bin/chromium (installed by
scripts/system-deps). Tests that need it are skipped with a reason when it is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.needs import missing
from tests.servers import RunningServer

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


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, or a skip (a failure under CI) saying why."""
    if not CHROMIUM.exists():
        missing("Debian's chromium is not installed (scripts/system-deps installs it)")
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        missing("playwright is not installed (scripts/test installs the dev extras)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # One browser per module: starting Chromium is the slow part, and each test still
    # gets a fresh context (no shared cookies or storage). Not per session: the sync
    # API keeps an asyncio loop running in this thread, which anyio tests elsewhere
    # would collide with.
    with chromium() as launched:
        yield launched


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


# ---------------------------------------------------------------- the real app

SESSION_ID = "weather-1"
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
# A session as a user saw it: a status, a tool call and its result, typed-out text
# (with markup that must stay text), a failing tool, a user-facing error, the final.
SAMPLE: list[tuple[float, str, dict[str, Any]]] = [
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
SAMPLE_TEXT = "Browsers reconnect <img src=x onerror=alert(1)> with Last-Event-ID."


def sample_events() -> list[dict[str, Any]]:
    return [
        {
            "id": f"e{i}",
            "type": kind,
            "data": data,
            "ts": (T0 + timedelta(milliseconds=offset)).isoformat().replace("+00:00", "Z"),
        }
        for i, (offset, kind, data) in enumerate(SAMPLE, start=1)
    ]


@pytest.fixture
def seeded(server: RunningServer) -> str:
    """The real app on uvicorn, holding SESSION_ID recorded from SAMPLE; its base URL."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        created = http.post(
            "/v1/sessions",
            json={"id": SESSION_ID, "metadata": {"title": "Weather agent", "user": "<b>ana</b>"}},
        )
        assert created.status_code == 201, created.text
        appended = http.post(f"/v1/sessions/{SESSION_ID}/events", json=sample_events())
        assert appended.status_code == 200, appended.text
    return server.url


@pytest.fixture
def viewer_url(seeded: str) -> str:
    return f"{seeded}/sessions/{SESSION_ID}"


@pytest.fixture
def sample_text() -> str:
    return SAMPLE_TEXT
