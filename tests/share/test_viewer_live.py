"""An open session is followed live: the LIVE badge, growing counters, polite scrolling."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.share.conftest import T0
from tests.share.test_viewer_browser import TIMEOUT_MS


def at(ms: int) -> str:
    return (T0 + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def append(url: str, session_id: str, events: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        appended = http.post(f"/v1/sessions/{session_id}/events", json=events)
        assert appended.status_code == 200, appended.text


def statuses(first: int, count: int, *, step_ms: int = 100) -> list[dict[str, Any]]:
    return [
        {"type": "status", "data": {"label": f"Step {n}"}, "ts": at(n * step_ms)}
        for n in range(first, first + count)
    ]


@pytest.mark.browser
def test_counters_and_duration_grow_while_live(page: Any, server: Any, artifacts: Path) -> None:
    append(
        server.url,
        "live-2",
        [
            {"type": "user.message", "data": {"text": "Are you there?"}, "ts": at(0)},
            {"type": "message.delta", "data": {"text": "Yes, "}, "ts": at(1000)},
        ],
    )
    page.goto(f"{server.url}/sessions/live-2")
    page.wait_for_selector("body[data-state=live][data-position='2']", timeout=TIMEOUT_MS)
    assert page.text_content("#status-badge") == "live"
    assert page.text_content("#play") == "Pause"
    assert page.text_content("#fact-events") == "2"
    assert page.text_content("#fact-duration") == "1.0 s"

    more = [
        {"type": "message.delta", "data": {"text": "**still** here."}, "ts": at(2500)},
        {"type": "status", "data": {"label": "Looking it up"}, "ts": at(65_000)},
    ]
    append(server.url, "live-2", more)
    page.wait_for_selector("body[data-position='4']", timeout=TIMEOUT_MS)
    assert page.text_content("#fact-events") == "4"
    assert page.text_content("#fact-duration") == "1 min 5 s"
    assert page.text_content(".message strong") == "still"
    assert page.get_attribute("body", "data-state") == "live"
    page.screenshot(path=str(artifacts / "viewer-live.png"), full_page=True)

    append(server.url, "live-2", [{"type": "final", "data": {}, "ts": at(66_000)}])
    page.wait_for_selector("body[data-state=ended]", timeout=TIMEOUT_MS)
    assert page.text_content("#status-badge") == "complete"
    assert page.text_content("#fact-events") == "5"
    assert page.text_content(".final") == "Session complete"


@pytest.mark.browser
def test_pause_stops_following_and_play_goes_on(page: Any, server: Any) -> None:
    append(server.url, "live-3", statuses(1, 2))
    page.goto(f"{server.url}/sessions/live-3")
    page.wait_for_selector("body[data-state=live][data-position='2']", timeout=TIMEOUT_MS)
    page.click("#play")  # "Pause"
    page.wait_for_selector("body[data-state=paused]", timeout=TIMEOUT_MS)
    assert page.text_content("#status-badge") == "open"
    append(server.url, "live-3", [*statuses(3, 1), {"type": "final", "data": {}, "ts": at(400)}])
    page.click("[data-speed=max]")
    page.click("#play")
    page.wait_for_selector("body[data-state=ended][data-position='4']", timeout=TIMEOUT_MS)
    assert page.locator("#transcript .status").count() == 3


def scroll_state(page: Any) -> dict[str, float]:
    return page.evaluate(
        """() => {
          const doc = document.scrollingElement;
          return {top: doc.scrollTop, below: doc.scrollHeight - doc.scrollTop - doc.clientHeight};
        }"""
    )


@pytest.mark.browser
def test_auto_scroll_stops_when_the_reader_scrolls_up(browser: Any, server: Any) -> None:
    append(server.url, "live-4", statuses(1, 40))
    context = browser.new_context(viewport={"width": 1000, "height": 600})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/sessions/live-4")
        page.wait_for_selector("body[data-state=live][data-position='40']", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => { const d = document.scrollingElement;"
            " return d.scrollHeight - d.scrollTop - d.clientHeight < 2; }",
            timeout=TIMEOUT_MS,
        )

        page.mouse.move(300, 400)
        page.mouse.wheel(0, -500)  # the reader scrolls up to read
        page.wait_for_function("() => document.scrollingElement.scrollTop > 0", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => { const d = document.scrollingElement;"
            " return d.scrollHeight - d.scrollTop - d.clientHeight > 400; }",
            timeout=TIMEOUT_MS,
        )
        before = scroll_state(page)["top"]
        append(server.url, "live-4", statuses(41, 10))
        page.wait_for_selector("body[data-position='50']", timeout=TIMEOUT_MS)
        page.wait_for_selector("#to-latest:not([hidden])", timeout=TIMEOUT_MS)
        assert scroll_state(page)["top"] == before  # not pulled away from what they read

        page.click("#to-latest")
        page.wait_for_selector("#to-latest[hidden]", state="attached", timeout=TIMEOUT_MS)
        assert scroll_state(page)["below"] < 2
        append(server.url, "live-4", statuses(51, 10))  # at the bottom again: followed
        page.wait_for_selector("body[data-position='60']", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => { const d = document.scrollingElement;"
            " return d.scrollHeight - d.scrollTop - d.clientHeight < 2; }",
            timeout=TIMEOUT_MS,
        )
    finally:
        context.close()


@pytest.mark.browser
def test_a_share_link_follows_an_open_session_too(page: Any, server: Any) -> None:
    append(server.url, "live-5", statuses(1, 1))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        url = http.post("/v1/sessions/live-5/shares", json={}).json()["url"]
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/stream?" in r.url else None)
    page.goto(url)
    page.wait_for_selector("body[data-state=live][data-position='1']", timeout=TIMEOUT_MS)
    append(server.url, "live-5", [{"type": "final", "data": {}, "ts": at(200)}])
    page.wait_for_selector("body[data-state=ended][data-position='2']", timeout=TIMEOUT_MS)
    assert len(streams) == 1
    assert "/r/" in streams[0]
