"""The replay viewer in real headless Chromium against a real uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from replaydeck.web.viewer import asset_url
from tests.servers import serve

TIMEOUT_MS = 15_000
SESSION_ID = "weather-1"  # as seeded by the `seeded` fixture


def open_viewer(page: Any, url: str, query: str = "") -> None:
    page.goto(url + query)
    page.wait_for_selector("body:not([data-state=loading])", timeout=TIMEOUT_MS)


def click_timeline_at(page: Any, ms: float, *, of: float) -> None:
    """A real click on the timeline at `ms` into a session `of` ms long (it is laid out by time)."""
    box = page.locator("#track").bounding_box()
    page.mouse.click(box["x"] + box["width"] * ms / of, box["y"] + box["height"] / 2)


def play_at_max(page: Any) -> None:
    play_at_max_until(page, "body[data-state=ended]")


def play_at_max_until(page: Any, selector: str) -> None:
    page.click("[data-speed=max]")
    page.click("#play")
    page.wait_for_selector(selector, timeout=TIMEOUT_MS)


@pytest.mark.browser
def test_plays_to_the_final_text_and_tool_card(
    page: Any, viewer_url: str, sample_text: str, artifacts: Path
) -> None:
    open_viewer(page, viewer_url)
    play_at_max(page)

    assert page.text_content(".message .text") == sample_text
    assert page.locator("#transcript img").count() == 0
    card = page.locator(".tool", has_text="web.search")
    assert "done" in card.locator(".tool-state").text_content()
    card.locator("summary").click()
    assert '"q": "sse reconnect"' in card.locator(".tool-body").text_content()
    assert '"hits": 3' in card.locator(".tool-result").text_content()
    assert page.locator(".tool.failed", has_text="calc").count() == 1
    assert page.text_content(".error p") == "The calculator failed."
    assert "output tokens: 48" in page.text_content(".final")
    page.screenshot(path=str(artifacts / "viewer-desktop.png"), full_page=True)


@pytest.mark.browser
def test_seek_renders_up_to_seq_then_continues(page: Any, viewer_url: str) -> None:
    open_viewer(page, viewer_url)
    # Seq 4 is at 1800 ms and seq 5 at 1850 ms, of 2300: between them is seq 4's moment.
    click_timeline_at(page, 1825, of=2300)
    page.wait_for_selector("body[data-position='4'][data-state=paused]", timeout=TIMEOUT_MS)
    assert page.text_content(".message .text") == "Browsers reconnect "
    assert page.locator(".tool").count() == 1
    assert page.url.endswith("?at=4")
    assert '"seq": 4' in page.text_content("#raw")

    play_at_max(page)
    assert page.text_content(".message .text").endswith("with Last-Event-ID.")
    assert page.locator("#event-list li").count() == 10


@pytest.mark.browser
def test_deep_link_opens_at_a_moment(page: Any, viewer_url: str) -> None:
    open_viewer(page, viewer_url, "?at=3")
    page.wait_for_selector("body[data-position='3']", timeout=TIMEOUT_MS)
    assert page.locator(".message").count() == 0
    assert "done" in page.text_content(".tool .tool-state")
    assert page.text_content("#raw-title") == "Event #3 · tool.result"

    page.keyboard.press("ArrowRight")
    page.wait_for_selector("body[data-position='4'][data-state=paused]", timeout=TIMEOUT_MS)
    assert page.text_content(".message .text") == "Browsers reconnect "
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("body[data-position='2'][data-state=paused]", timeout=TIMEOUT_MS)
    assert "running" in page.text_content(".tool .tool-state")
    page.click("[data-speed=max]")
    page.evaluate("document.activeElement.blur()")  # a focused button takes space itself
    page.keyboard.press(" ")
    page.wait_for_selector("body[data-state=ended]", timeout=TIMEOUT_MS)


@pytest.mark.browser
def test_phone_width_in_dark_mode_has_no_horizontal_scroll(
    browser: Any, viewer_url: str, artifacts: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, is_mobile=True, color_scheme="dark"
    )
    try:
        phone = context.new_page()
        open_viewer(phone, viewer_url)
        play_at_max(phone)
        for card in phone.locator(".tool summary").all():
            card.click()
        overflow = phone.evaluate(
            "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
        )
        phone.screenshot(path=str(artifacts / "viewer-phone-dark.png"), full_page=True)
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 375px"
        background = phone.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(20, 20, 22)", "the dark palette is not applied"
    finally:
        context.close()


@pytest.mark.browser
def test_pause_then_resume_shows_every_event_once(page: Any, viewer_url: str) -> None:
    open_viewer(page, viewer_url)
    page.uncheck("#skip-gaps")
    page.click("#play")
    # At 1x the tool result comes 1.35 s after the call: pause while the call runs.
    page.wait_for_selector(".tool.pending", timeout=TIMEOUT_MS)
    page.click("#play")
    page.wait_for_selector("body[data-state=paused]", timeout=TIMEOUT_MS)
    paused_at = int(page.get_attribute("body", "data-position"))
    assert paused_at >= 2
    assert page.url.endswith(f"?at={paused_at}")

    play_at_max(page)
    seqs = page.eval_on_selector_all(
        "#event-list [data-seq]", "(rows) => rows.map(r => +r.dataset.seq)"
    )
    assert seqs == list(range(1, 11))
    assert page.locator(".message").count() == 1


@pytest.mark.browser
def test_speed_change_while_playing_continues_from_the_next_event(
    page: Any, viewer_url: str
) -> None:
    replays: list[str] = []
    page.on("request", lambda r: replays.append(r.url) if "/replay?" in r.url else None)
    open_viewer(page, viewer_url)
    page.click("#play")  # 1x, idle gaps skipped
    page.wait_for_selector(".tool.pending", timeout=TIMEOUT_MS)
    page.click("[data-speed=max]")  # while playing: no Play click needed
    page.wait_for_selector("body[data-state=ended]", timeout=TIMEOUT_MS)

    first, second = (parse_qs(urlsplit(url).query) for url in replays)
    assert first == {"speed": ["1"], "from": ["1"], "max_gap_ms": ["1500"]}
    assert second["speed"] == ["max"]
    assert int(second["from"][0]) >= 3  # the tool call (seq 2) was already drawn
    seqs = page.eval_on_selector_all(
        "#event-list [data-seq]", "(rows) => rows.map(r => +r.dataset.seq)"
    )
    assert seqs == list(range(1, 11))


@pytest.mark.browser
def test_follows_a_session_still_being_recorded(page: Any, server: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.post(
            "/v1/sessions/live-1/events", json=[{"type": "status", "data": {"label": "Working"}}]
        )
        page.goto(f"{server.url}/sessions/live-1")
        page.wait_for_selector("body[data-state=live][data-position='1']", timeout=TIMEOUT_MS)
        assert page.text_content("#status-badge") == "live"
        more = [
            {"type": "message.delta", "data": {"text": "Still here."}},
            {"type": "final", "data": {}},
        ]
        assert http.post("/v1/sessions/live-1/events", json=more).status_code == 200
    page.wait_for_selector("body[data-state=ended]", timeout=TIMEOUT_MS)
    assert page.text_content(".message .text") == "Still here."
    assert page.text_content("#status-badge") == "complete"


@pytest.mark.browser
def test_the_users_message_is_shown_before_each_answer(
    page: Any, server: Any, artifacts: Path
) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    asked = "What is in this picture?"
    events = [
        {
            "type": "user.message",
            "data": {"text": asked, "content": [{"type": "text", "text": asked}, image]},
        },
        {"type": "message.delta", "data": {"text": "A cat."}},
        {"type": "user.message", "data": {"text": "<b>And</b> now?", "message_id": "u2"}},
        {"type": "message.delta", "data": {"text": "Still a cat."}},
        {"type": "final", "data": {}},
    ]
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/v1/sessions/asked-1/events", json=events).status_code == 200
    open_viewer(page, f"{server.url}/sessions/asked-1")
    play_at_max(page)
    items = page.locator("#transcript > li")
    kinds = [items.nth(i).get_attribute("class").split()[1] for i in range(items.count())]
    assert kinds == ["prompt", "message", "prompt", "message", "final"]
    assert page.locator(".prompt .text").all_text_contents() == [asked, "<b>And</b> now?"]
    # Each answer is its own bubble: the user's turn in between ends the one before.
    assert page.locator(".message .text").all_text_contents() == ["A cat.", "Still a cat."]
    assert page.locator("#transcript b").count() == 0
    assert page.locator("#transcript img").count() == 0
    assert page.locator(".prompt summary").all_text_contents() == ["1 attachment"]
    page.screenshot(path=str(artifacts / "viewer-user-turn.png"), full_page=True)


@pytest.mark.parametrize("played", [True, False], ids=["played", "followed-live"])
@pytest.mark.browser
def test_an_abandoned_session_ends_with_a_notice(page: Any, tmp_path: Path, played: bool) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/abandoned.db",
        trace_idle_timeout=1.0,
        heartbeat_interval=0.2,
    )
    with serve(create_app(settings)) as running:
        with httpx.Client(base_url=running.url, timeout=10) as http:
            started = [{"type": "message.delta", "data": {"text": "Half an answer"}}]
            assert http.post("/v1/sessions/gone-1/events", json=started).status_code == 200
        url = f"{running.url}/sessions/gone-1"
        if played:
            # Opened at its start rather than followed live, then played: the producer
            # never sends more, so the replay follows, then ends as incomplete.
            open_viewer(page, url, "?at=0:00")
            play_at_max(page)
        else:
            # Followed live: the server closes the tail once the session goes quiet.
            page.goto(url)
            page.wait_for_selector("body[data-state=ended]", timeout=TIMEOUT_MS)
    assert page.text_content(".message .text") == "Half an answer"
    assert page.text_content("#notice-title") == "The session did not finish"
    assert page.text_content("#status-badge") == "open"
    assert "did not finish" in page.text_content("#transcript .end-abandoned")


@pytest.mark.browser
def test_untrusted_metadata_stays_text(page: Any, viewer_url: str) -> None:
    open_viewer(page, viewer_url)
    page.click("#metadata summary")
    assert page.text_content("#metadata-list").count("<b>ana</b>") == 1
    assert page.locator("#metadata-list b").count() == 0
    assert page.title() == "Weather agent · replaydeck"


@pytest.mark.browser
def test_unknown_session_says_so(page: Any, server: Any) -> None:
    page.goto(f"{server.url}/sessions/no-such-session")
    page.wait_for_selector("body[data-state=error]", timeout=TIMEOUT_MS)
    assert page.text_content("#notice-title") == "Session not found"
    assert page.locator("#player").is_hidden()


# The page's HTTP side, without a browser. Sync, over the real server: in this module
# the browser fixture keeps an asyncio loop running, which anyio tests would clash with.


def test_page_and_assets_are_served_with_safe_headers(server: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        page = client.get("/sessions/a%3Cb%3E")
        js = client.get(asset_url("viewer.js"))
        stale = client.get("/viewer/000000000000/transcript.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert 'data-base="/v1/sessions/a%3Cb%3E"' in page.text
    assert "<b>" not in page.text

    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert "immutable" in js.headers["cache-control"]
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"


def test_unknown_asset_is_a_problem(server: Any) -> None:
    response = httpx.get(server.url + asset_url("viewer.js").replace("viewer.js", "viewer.py"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "serves only" in response.json()["detail"]


def create_key(server: Any, scope: str) -> str:
    # The real CLI in a subprocess: the browser fixture's loop rules out asyncio.run here.
    database_url = server.app.state.settings.database_url
    done = subprocess.run(
        [sys.executable, "-m", "replaydeck", "keys", "create", "--scope", scope],
        env={**os.environ, "REPLAYDECK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.browser
def test_share_link_plays_without_a_key_until_revoked(
    browser: Any, seeded: str, server: Any, sample_text: str, artifacts: Path
) -> None:
    admin = {"Authorization": f"Bearer {create_key(server, 'admin')}"}
    with httpx.Client(base_url=seeded, headers=admin, timeout=10) as http:
        share = http.post(f"/v1/sessions/{SESSION_ID}/shares", json={"expires_in": 3600})
        assert share.status_code == 201, share.text
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            open_viewer(page, share.json()["url"])
            play_at_max(page)
            assert page.text_content(".message .text") == sample_text
            assert "done" in page.text_content(".tool .tool-state")
            page.screenshot(path=str(artifacts / "viewer-share.png"), full_page=True)

            revoked = http.delete(f"/v1/shares/{share.json()['id']}")
            assert revoked.status_code == 204
            page.click("#play")  # the open page now gets 404s from the API behind it
            page.wait_for_selector("#notice:not([hidden])", timeout=TIMEOUT_MS)
            assert page.text_content("#notice-title") == "This replay link is not valid"

            reloaded = page.goto(share.json()["url"])
            assert reloaded.status == 404
            assert "does not work" in page.text_content("h1")
        finally:
            context.close()


@pytest.mark.browser
def test_key_holder_is_asked_for_a_key_with_the_read_scope(
    page: Any, viewer_url: str, server: Any
) -> None:
    ingest_key = create_key(server, "ingest")
    read_key = create_key(server, "read")
    page.goto(viewer_url)
    page.wait_for_selector("#key-form:not([hidden])", timeout=TIMEOUT_MS)
    assert page.text_content("#notice-title") == "An API key is needed"

    page.fill("#key-input", ingest_key)
    page.click("#key-form button")
    page.wait_for_selector("#notice-title:has-text('cannot read')", timeout=TIMEOUT_MS)
    page.fill("#key-input", read_key)
    page.click("#key-form button")
    page.wait_for_selector("body[data-state=paused]", timeout=TIMEOUT_MS)
    assert page.locator("#notice").is_hidden()
    play_at_max(page)
    assert page.evaluate("sessionStorage.getItem('replaydeck.apiKey')") == read_key
    assert page.evaluate("localStorage.length") == 0


@pytest.mark.browser
def test_jaeger_link_when_configured(page: Any, tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/jaeger.db",
        jaeger_url="http://jaeger.test:16686",
    )
    with serve(create_app(settings)) as running:
        with httpx.Client(base_url=running.url, timeout=10) as http:
            created = http.post("/v1/sessions/traced-1/events", json={"type": "final", "data": {}})
            assert created.status_code == 200, created.text
            trace_id = http.get("/v1/sessions/traced-1").json()["trace_id"]
        open_viewer(page, f"{running.url}/sessions/traced-1")
        link = page.locator("#jaeger-link")
        assert link.is_visible()
        assert link.get_attribute("href") == f"http://jaeger.test:16686/trace/{trace_id}"


@pytest.mark.browser
def test_long_session_deep_link_pages_the_log_then_plays_on(page: Any, server: Any) -> None:
    words = [f"w{i} " for i in range(1, 1501)]
    events = [{"type": "message.delta", "data": {"text": w}} for w in words]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        appended = http.post("/v1/sessions/long-1/events", json=[*events, {"type": "final"}])
        assert appended.status_code == 200, appended.text
    # Seq 1200 lies past two pages of /events (500 each): the page must follow next_after.
    open_viewer(page, f"{server.url}/sessions/long-1", "?at=1200")
    page.wait_for_selector("body[data-position='1200']", timeout=TIMEOUT_MS)
    assert page.text_content(".message .text") == "".join(words[:1200])

    play_at_max(page)
    assert page.text_content(".message .text") == "".join(words)
    assert page.get_attribute("body", "data-position") == "1501"


@pytest.mark.browser
def test_a_server_gone_away_is_explained(page: Any, tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/gone.db")
    with serve(create_app(settings)) as running:
        with httpx.Client(base_url=running.url, timeout=10) as http:
            http.post("/v1/sessions/gone-1/events", json={"type": "final", "data": {}})
        open_viewer(page, f"{running.url}/sessions/gone-1")
    page.click("#play")
    page.wait_for_selector("#notice:not([hidden])", timeout=TIMEOUT_MS)
    assert page.text_content("#notice-title") == "Could not reach replaydeck"
    assert page.locator("#retry").is_visible()
    assert page.get_attribute("body", "data-state") == "paused"
