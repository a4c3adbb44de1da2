"""The timeline by time: gaps, markers, ticks, keys, ?at=, the preview, type filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.share.test_viewer_browser import TIMEOUT_MS, open_viewer, play_at_max
from tests.share.test_viewer_markdown import record

DURATION_MS = 40_000
# A 40 s session with a 30 s wait in the middle: offset, type, data (seq 1 to 14).
TRIP: list[tuple[int, str, dict[str, Any]]] = [
    (0, "user.message", {"text": "Plan my trip"}),
    (500, "status", {"label": "Thinking"}),
    (1000, "tool.call", {"name": "search", "args": {"q": "Lisbon"}, "call_id": "c1"}),
    (2000, "tool.result", {"name": "search", "call_id": "c1", "result": {"hits": 2}}),
    *[(2100 + 100 * i, "message.delta", {"text": f"part {i} "}) for i in range(5)],
    (32_500, "tool.call", {"name": "weather", "args": {"city": "Lisbon"}, "call_id": "c2"}),
    (33_000, "tool.result", {"name": "weather", "call_id": "c2", "result": "-", "is_error": True}),
    (33_500, "error", {"message": "Weather is unavailable."}),
    (34_000, "message.delta", {"text": "Sorry, no forecast."}),
    (40_000, "final", {}),
]


@pytest.fixture
def trip(server: Any) -> str:
    events = [{"type": kind, "data": data, "at_ms": at} for at, kind, data in TRIP]
    record(server.url, "trip-1", events)
    return f"{server.url}/sessions/trip-1"


def marker_positions(page: Any) -> list[tuple[str, float]]:
    """Each marker's kind and where its centre sits, as a fraction of the track."""
    return page.evaluate(
        """() => {
          const track = document.querySelector('#track').getBoundingClientRect();
          return [...document.querySelectorAll('.marker')].map((m) => {
            const box = m.getBoundingClientRect();
            return [m.className.replace('marker m-', ''),
                    (box.left + box.width / 2 - track.left) / track.width];
          }).sort((a, b) => a[1] - b[1]);
        }"""
    )


def track_x(page: Any, ms: float) -> tuple[float, float]:
    box = page.locator("#track").bounding_box()
    return box["x"] + box["width"] * ms / DURATION_MS, box["y"] + box["height"] / 2


def wait_position(page: Any, seq: int) -> None:
    # Paused, or ended when the seq is the final's.
    selector = f"body[data-position='{seq}']:is([data-state=paused], [data-state=ended])"
    page.wait_for_selector(selector, timeout=TIMEOUT_MS)


@pytest.mark.browser
def test_markers_sit_at_their_time_by_kind(page: Any, trip: str, artifacts: Path) -> None:
    open_viewer(page, trip)
    page.wait_for_selector("body[data-preview=true]", timeout=TIMEOUT_MS)
    found = marker_positions(page)
    expected = [
        ("user", 0),
        ("status", 500),
        ("tool", 1000),
        ("tool", 32_500),
        ("error", 33_000),
        ("error", 33_500),
        ("end", 40_000),
    ]
    assert [kind for kind, _ in found] == [kind for kind, _ in expected]
    for (_, at), (_, ms) in zip(found, expected, strict=True):
        assert at == pytest.approx(ms / DURATION_MS, abs=0.005)
    page.locator("#timeline").screenshot(path=str(artifacts / "timeline.png"))


@pytest.mark.browser
def test_an_idle_gap_is_shaded_and_marked_skipped(page: Any, trip: str) -> None:
    open_viewer(page, trip)
    page.wait_for_selector(".gap", timeout=TIMEOUT_MS)
    labels = page.eval_on_selector_all(".gap", "(gaps) => gaps.map((g) => g.dataset.label)")
    assert labels == ["idle 30.0 s · skipped", "idle 6.0 s · skipped"]  # largest first
    gap = page.locator(".gap").first
    box = gap.bounding_box()
    track = page.locator("#track").bounding_box()
    assert (box["x"] - track["x"]) / track["width"] == pytest.approx(2500 / DURATION_MS, abs=0.005)
    assert box["width"] / track["width"] == pytest.approx(30_000 / DURATION_MS, abs=0.005)
    page.uncheck("#skip-gaps")
    page.wait_for_selector(".gap:not(.skipped)", timeout=TIMEOUT_MS)
    assert page.locator(".gap-label").all_text_contents() == ["idle 30.0 s", "idle 6.0 s"]


@pytest.mark.browser
def test_time_ticks_label_the_track(page: Any, trip: str) -> None:
    open_viewer(page, trip)
    labels = page.locator(".tick").all_text_contents()
    assert labels == [f"0:{s:02}" for s in range(0, 41, 5)]


@pytest.mark.browser
def test_hovering_a_marker_names_it_and_a_click_seeks_there(
    page: Any, trip: str, artifacts: Path
) -> None:
    open_viewer(page, trip)
    page.mouse.move(*track_x(page, 32_500))
    page.wait_for_selector(".tip:not([hidden])", timeout=TIMEOUT_MS)
    assert page.text_content(".tip") == "Tool call · weather · 0:32.5 · #10"
    page.locator("#player").screenshot(path=str(artifacts / "timeline-hover.png"))
    page.mouse.click(*track_x(page, 32_500))
    wait_position(page, 10)
    assert "running" in page.locator(".tool", has_text="weather").text_content()
    assert page.url.endswith("?at=10")
    page.mouse.move(*track_x(page, 20_000))
    assert page.text_content(".tip") == "0:20.0"


@pytest.mark.browser
def test_a_click_between_markers_seeks_to_that_time(page: Any, trip: str) -> None:
    open_viewer(page, trip)
    page.mouse.click(*track_x(page, 20_000))  # in the idle gap: the last event before it
    wait_position(page, 9)
    assert page.text_content("#clock") == "0:02.5 / 0:40.0"


@pytest.mark.browser
def test_keys_step_by_event_and_by_ten_seconds(page: Any, trip: str) -> None:
    open_viewer(page, trip, "?at=9")
    wait_position(page, 9)
    page.keyboard.press("Shift+ArrowRight")  # 12.5 s is idle: on to the next event
    wait_position(page, 10)
    page.keyboard.press("Shift+ArrowRight")  # 42.5 s: the end
    wait_position(page, 14)
    page.keyboard.press("Shift+ArrowLeft")  # 30 s: the last event before the gap
    wait_position(page, 9)
    page.keyboard.press("ArrowLeft")
    wait_position(page, 8)
    page.keyboard.press("ArrowRight")
    wait_position(page, 9)
    page.focus("#track")  # the timeline itself takes the same keys
    page.keyboard.press("Shift+ArrowRight")
    wait_position(page, 10)
    assert page.get_attribute("#track", "aria-valuenow") == "32500"
    page.keyboard.press(" ")
    page.wait_for_selector("body[data-state=playing]", timeout=TIMEOUT_MS)
    page.keyboard.press(" ")
    page.wait_for_selector("body[data-state=paused]", timeout=TIMEOUT_MS)


@pytest.mark.parametrize(
    ("at", "seq"),
    [("7", 7), ("33.2s", 11), ("0:02.1", 5), ("850ms", 2), ("0:00:34", 13), ("bogus", None)],
)
@pytest.mark.browser
def test_at_takes_a_seq_or_a_time(page: Any, trip: str, at: str, seq: int | None) -> None:
    open_viewer(page, trip, f"?at={at}")
    if seq is None:  # not a moment: the session opens as without ?at=
        page.wait_for_selector("body[data-preview=true]", timeout=TIMEOUT_MS)
        return
    wait_position(page, seq)
    assert page.get_attribute("body", "data-preview") == "false"


@pytest.mark.browser
def test_before_play_the_final_state_shows_dimmed(page: Any, trip: str, artifacts: Path) -> None:
    replays: list[str] = []
    page.on("request", lambda r: replays.append(r.url) if "/replay?" in r.url else None)
    open_viewer(page, trip)
    page.wait_for_selector("body[data-preview=true]", timeout=TIMEOUT_MS)
    assert page.locator("#preview-note").is_visible()
    assert page.locator("#empty").is_hidden()
    assert page.text_content(".final") == "Session complete"
    assert page.locator(".tool").count() == 2
    opacity = page.evaluate("getComputedStyle(document.querySelector('#transcript')).opacity")
    assert float(opacity) < 1
    assert page.text_content("#play") == "Play"
    page.screenshot(path=str(artifacts / "viewer-preview.png"), full_page=True)

    play_at_max(page)
    assert parse_qs(urlsplit(replays[0]).query)["from"] == ["1"]
    assert page.get_attribute("body", "data-preview") == "false"
    assert page.locator("#preview-note").is_hidden()
    assert page.locator(".final").count() == 1


@pytest.mark.browser
def test_type_filters_hide_items_and_inspector_rows(page: Any, trip: str) -> None:
    open_viewer(page, trip)
    page.wait_for_selector("body[data-preview=true]", timeout=TIMEOUT_MS)
    assert page.locator("#transcript .tool:visible").count() == 2
    page.click("[data-filter=tool]")
    assert page.get_attribute("[data-filter=tool]", "aria-pressed") == "false"
    assert page.locator("#transcript .tool:visible").count() == 0
    assert page.locator("#event-list .k-tool:visible").count() == 0
    assert page.locator("#event-list .k-message:visible").count() == 6
    page.click("[data-filter=message]")
    assert page.locator("#transcript .message:visible").count() == 0
    assert page.locator("#transcript .prompt:visible").count() == 1
    page.click("[data-filter=tool]")
    assert page.locator("#transcript .tool:visible").count() == 2
    assert page.locator("#event-list .k-tool:visible").count() == 4


@pytest.mark.browser
def test_zoom_shows_part_of_the_session_around_the_playhead(
    page: Any, trip: str, artifacts: Path
) -> None:
    open_viewer(page, trip, "?at=11")  # 33 s in
    wait_position(page, 11)
    page.click(".zoom-in")
    page.click(".zoom-in")  # 10 s shown, around 33 s: 28 to 38 s
    assert page.text_content(".zoom-label") == "10.0 s shown"
    assert page.get_attribute("#timeline", "data-zoomed") == "true"
    visible = page.eval_on_selector_all(
        ".marker:not([hidden])", "(ms) => ms.map((m) => m.className)"
    )
    # The weather call, its failed result and the error; the rest lie outside.
    assert visible == ["marker m-tool", "marker m-error", "marker m-error"]
    assert page.locator(".tick").all_text_contents() == [f"0:{s}" for s in range(28, 39)]
    page.locator("#timeline").screenshot(path=str(artifacts / "timeline-zoomed.png"))
    # A click on the zoomed track seeks within the window: at 34.3 s, the delta of 34 s.
    box = page.locator("#track").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.63, box["y"] + box["height"] / 2)
    wait_position(page, 13)
    page.focus("#track")
    page.keyboard.press("-")
    page.keyboard.press("-")
    assert page.text_content(".zoom-label") == "whole session"
    assert page.eval_on_selector_all(".marker:not([hidden])", "(ms) => ms.length") == 7


@pytest.mark.browser
def test_n_and_p_jump_between_markers(page: Any, trip: str) -> None:
    open_viewer(page, trip, "?at=4")
    wait_position(page, 4)
    page.keyboard.press("n")  # past the deltas: the weather call
    wait_position(page, 10)
    page.keyboard.press("n")
    wait_position(page, 11)
    page.keyboard.press("p")
    wait_position(page, 10)
    page.keyboard.press("p")  # back over the deltas: the search call
    wait_position(page, 3)
