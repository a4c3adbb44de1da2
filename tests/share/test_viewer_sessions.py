"""Finding and sharing sessions: the sessions page, and the session page's buttons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from replaydeck.web.viewer import asset_url
from tests.share.test_viewer_browser import TIMEOUT_MS, create_key, open_viewer
from tests.share.test_viewer_markdown import record


def open_list(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body:not([data-state=loading])", timeout=TIMEOUT_MS)


def rows(page: Any) -> list[list[str]]:
    """Each row's session id, status, duration, event count and error count."""
    return page.eval_on_selector_all(
        "#rows tr",
        "(trs) => trs.map((tr) => [tr.dataset.id, "
        "...[1, 3, 4, 5].map((i) => tr.cells[i].textContent)])",
    )


def seed_three(url: str) -> None:
    failed = {"type": "error", "data": {"message": "The tool failed."}}
    record(url, "alpha", [{"type": "status", "data": {"label": "a"}}, {"type": "final"}])
    record(
        url,
        "beta",
        [
            {"type": "status", "data": {"label": "b"}, "at_ms": 0},
            failed,
            failed,
            {"type": "status", "data": {"label": "c"}, "at_ms": 125_400},
        ],
    )
    with httpx.Client(base_url=url, timeout=10) as http:
        created = http.post(
            "/v1/sessions", json={"id": "gamma", "metadata": {"title": "Refund bot", "team": "ops"}}
        )
        assert created.status_code == 201, created.text


@pytest.mark.browser
def test_lists_sessions_newest_first_with_their_numbers(
    page: Any, server: Any, artifacts: Path
) -> None:
    seed_three(server.url)
    open_list(page, f"{server.url}/sessions")
    assert rows(page) == [
        ["gamma", "open", "0 ms", "0", "0"],
        ["beta", "open", "2 min 5 s", "4", "2"],
        ["alpha", "complete", "50 ms", "2", "0"],
    ]
    assert page.get_attribute("#rows tr[data-id=alpha] .col-started", "title").startswith("2026-")
    assert page.text_content("#rows tr[data-id=gamma] .session-link") == "Refund bot"
    assert page.locator("#rows tr[data-id=beta] .errors.has-errors").count() == 1
    page.screenshot(path=str(artifacts / "sessions-list.png"), full_page=True)

    page.click("#rows tr[data-id=alpha] a")
    page.wait_for_selector("body[data-state=paused]", timeout=TIMEOUT_MS)
    assert page.url == f"{server.url}/sessions/alpha"


@pytest.mark.browser
def test_the_root_is_the_sessions_page(page: Any, server: Any) -> None:
    seed_three(server.url)
    open_list(page, f"{server.url}/")
    assert [row[0] for row in rows(page)] == ["gamma", "beta", "alpha"]
    assert page.title() == "Sessions · replaydeck"


@pytest.mark.browser
def test_search_by_id_metadata_and_status(page: Any, server: Any) -> None:
    seed_three(server.url)
    open_list(page, f"{server.url}/sessions")

    def search(q: str, status: str = "") -> list[str]:
        page.fill("#q", q)
        page.select_option("#status", status)
        page.click("#search button[type=submit]")
        page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
        return [row[0] for row in rows(page)]

    assert search("beta") == ["beta"]
    assert "q=beta" in page.url
    assert search("nobody") == []
    assert page.text_content("#empty") == "No session has the id “nobody”."
    assert search("team=ops") == ["gamma"]
    assert search("team=ops title=Refund bot") == []  # "bot" is not a key=value pair
    assert search("", "complete") == ["alpha"]
    assert search("bad id!") == []
    assert "not a valid session id" in page.text_content("#empty")
    page.reload()
    page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
    assert page.input_value("#q") == "bad id!"


@pytest.mark.browser
def test_pages_over_the_cursor(page: Any, server: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for index in range(30):
            assert http.post("/v1/sessions", json={"id": f"s{index:02}"}).status_code == 201
    open_list(page, f"{server.url}/sessions")
    first = [row[0] for row in rows(page)]
    assert first == [f"s{i:02}" for i in range(29, 4, -1)]
    assert page.is_disabled("#newer")
    page.click("#older")
    page.wait_for_selector("#rows tr[data-id=s04]", timeout=TIMEOUT_MS)
    assert [row[0] for row in rows(page)] == ["s04", "s03", "s02", "s01", "s00"]
    assert page.is_disabled("#older")
    assert page.text_content("#page-label") == "Page 2"
    page.click("#newer")
    page.wait_for_selector("#rows tr[data-id=s29]", timeout=TIMEOUT_MS)
    assert [row[0] for row in rows(page)] == first


@pytest.mark.browser
def test_the_list_asks_for_a_read_key(page: Any, server: Any) -> None:
    seed_three(server.url)
    read_key = create_key(server, "read")
    open_list(page, f"{server.url}/sessions")
    assert page.text_content("#notice-title") == "An API key is needed"
    page.fill("#key-input", read_key)
    page.click("#key-form button")
    page.wait_for_selector("body[data-state=ready]", timeout=TIMEOUT_MS)
    assert len(rows(page)) == 3
    assert page.locator("#notice").is_hidden()


@pytest.mark.browser
def test_phone_width_sessions_page_fits(browser: Any, server: Any, artifacts: Path) -> None:
    seed_three(server.url)
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, is_mobile=True, color_scheme="dark"
    )
    try:
        phone = context.new_page()
        open_list(phone, f"{server.url}/sessions")
        overflow = phone.evaluate(
            "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
        )
        phone.screenshot(path=str(artifacts / "sessions-phone-dark.png"), full_page=True)
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 375px"
    finally:
        context.close()


# ---------------------------------------------------------------- a session's buttons


def download(page: Any, button: str) -> tuple[str, str]:
    """Click `button`; the name and text of the file the browser saves."""
    with page.expect_download() as waiting:
        page.click(button)
    return waiting.value.suggested_filename, Path(waiting.value.path()).read_text()


@pytest.mark.browser
def test_download_the_session_as_ndjson(page: Any, viewer_url: str) -> None:
    open_viewer(page, viewer_url)
    name, text = download(page, "#download")
    assert name == "weather-1.ndjson"
    assert [json.loads(line)["seq"] for line in text.splitlines()] == list(range(1, 11))
    assert page.text_content("#action-status") == "Downloaded weather-1.ndjson."


@pytest.mark.browser
def test_download_the_trace_as_otlp_json(page: Any, viewer_url: str) -> None:
    open_viewer(page, viewer_url)
    name, text = download(page, "#trace")
    assert name == "trace-weather-1.json"
    spans = json.loads(text)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert any(span["name"].startswith("execute_tool") for span in spans)
    assert page.locator("#jaeger-link").is_hidden()  # no Jaeger UI configured


@pytest.mark.browser
def test_copy_a_share_link_asks_for_an_admin_key(
    browser: Any, viewer_url: str, server: Any, artifacts: Path
) -> None:
    read_key = create_key(server, "read")
    admin_key = create_key(server, "admin")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(viewer_url)
        page.wait_for_selector("#key-form:not([hidden])", timeout=TIMEOUT_MS)
        page.fill("#key-input", read_key)
        page.click("#key-form button")
        page.wait_for_selector("body[data-state=paused]", timeout=TIMEOUT_MS)

        page.click("#share")
        page.wait_for_selector("#key-form:not([hidden])", timeout=TIMEOUT_MS)
        assert page.text_content("#key-scope") == "admin"
        assert "admin scope" in page.text_content("#action-status")
        page.fill("#key-input", admin_key)
        page.click("#key-form button")
        page.wait_for_selector("#share-box:not([hidden])", timeout=TIMEOUT_MS)
        url = page.input_value("#share-url")
        assert page.evaluate("navigator.clipboard.readText()") == url
        assert page.text_content("#action-status") == "Share link copied to the clipboard."
        page.screenshot(path=str(artifacts / "viewer-share-made.png"))

        shared = httpx.get(url, timeout=10)
        assert shared.status_code == 200
        assert "text/html" in shared.headers["content-type"]
        assert url.startswith(f"{server.url}/r/")
    finally:
        context.close()


@pytest.mark.browser
def test_a_share_link_offers_the_download_only(page: Any, seeded: str) -> None:
    with httpx.Client(base_url=seeded, timeout=10) as http:
        share = http.post("/v1/sessions/weather-1/shares", json={})
    open_viewer(page, share.json()["url"])
    assert page.locator("#download").is_visible()
    assert page.locator("#share").is_hidden()
    assert page.locator("#trace").is_hidden()
    assert page.locator("#all-sessions").is_hidden()
    assert len(download(page, "#download")[1].splitlines()) == 10


@pytest.mark.browser
def test_durations_are_formatted_without_sixty(page: Any, server: Any) -> None:
    page.goto(f"{server.url}/sessions")
    formatted = page.evaluate(
        """async (url) => {
          const { formatDuration, formatMs } = await import(url);
          return [0, 999.4, 999.6, 1234, 59_949, 59_950, 119_600, 7_199_000, 7_200_000]
            .map((ms) => [formatDuration(ms), formatMs(ms)]);
        }""",
        asset_url("dom.js"),
    )
    assert formatted == [
        ["0 ms", "0:00.0"],
        ["999 ms", "0:01.0"],
        ["1.0 s", "0:01.0"],
        ["1.2 s", "0:01.2"],
        ["59.9 s", "0:59.9"],
        ["1 min 0 s", "1:00.0"],
        ["2 min 0 s", "1:59.6"],
        ["2 h 0 min", "1:59:59.0"],
        ["2 h 0 min", "2:00:00.0"],
    ]
