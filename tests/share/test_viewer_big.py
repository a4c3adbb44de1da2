"""A session of 20,000 events: seeking anywhere in under 300 ms, with a bounded DOM."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.share.conftest import ARTIFACTS, T0
from tests.share.test_viewer_browser import TIMEOUT_MS

TURNS = 100
PER_TURN = 200  # a user turn, a status, a tool call and result, 196 deltas
STEP_MS = 30  # 20,000 events 30 ms apart: a ten-minute session
SEEK_BUDGET_MS = 300


def turn_events(turn: int) -> Iterator[dict[str, Any]]:
    yield {"type": "user.message", "data": {"text": f"Question {turn}?"}}
    yield {"type": "status", "data": {"label": f"Thinking about {turn}"}}
    call = {"name": "lookup", "args": {"turn": turn}, "call_id": f"c{turn}"}
    yield {"type": "tool.call", "data": call}
    yield {"type": "tool.result", "data": {"name": "lookup", "call_id": f"c{turn}", "result": turn}}
    for n in range(PER_TURN - 4):
        text = f"**Answer {turn}**\n\n- " if n == 0 else f"word{n} "
        yield {"type": "message.delta", "data": {"text": text, "message_id": f"m{turn}"}}


def tool_events(count: int) -> Iterator[dict[str, Any]]:
    """A session of items only: tool calls, their results and status lines, no text."""
    for n in range(count // 4):
        yield {"type": "status", "data": {"label": f"Step {n}"}}
        call = {"name": "step", "args": {"n": n}, "call_id": f"c{n}"}
        yield {"type": "tool.call", "data": call}
        yield {"type": "tool.result", "data": {"name": "step", "call_id": f"c{n}", "result": n}}
        yield {"type": "status", "data": {"label": f"Step {n} done"}}


def store_session(url: str, session_id: str, events: list[dict[str, Any]]) -> str:
    events[-1] = {"type": "final", "data": {}}
    for index, event in enumerate(events):
        ts = T0 + timedelta(milliseconds=index * STEP_MS)
        event["ts"] = ts.isoformat().replace("+00:00", "Z")
    with httpx.Client(base_url=url, timeout=60) as http:
        for start in range(0, len(events), 5000):
            appended = http.post(
                f"/v1/sessions/{session_id}/events", json=events[start : start + 5000]
            )
            assert appended.status_code == 200, appended.text
    return f"{url}/sessions/{session_id}"


@pytest.fixture
def big(server: Any) -> str:
    """100 turns of an answer typed out in 196 deltas."""
    events = [event for turn in range(TURNS) for event in turn_events(turn)]
    return store_session(server.url, "big-1", events)


@pytest.fixture
def many(server: Any) -> str:
    """20,000 events that are each an item on the stage."""
    return store_session(server.url, "many-1", list(tool_events(TURNS * PER_TURN)))


# Dispatches a seek in the page and resolves, in ms, once the new position is drawn
# (the body's data-position changed, then a frame was painted).
MEASURE = """([kind, value]) => new Promise((resolve) => {
  const start = performance.now();
  const observer = new MutationObserver(() => {
    observer.disconnect();
    requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - start), 0));
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ["data-position"] });
  if (kind === "key") {
    document.body.dispatchEvent(new KeyboardEvent("keydown", { key: value, bubbles: true }));
  } else {
    const box = document.querySelector("#track").getBoundingClientRect();
    const x = box.left + box.width * value;
    document.querySelector("#track").dispatchEvent(
      new MouseEvent("click", { clientX: x, clientY: box.top + box.height / 2, bubbles: true }));
  }
})"""


def seek_everywhere(page: Any, url: str, what: str, capsys: Any) -> str:
    """Opens `url`, then seeks back and forth by clicks and keys, each timed; prints
    and returns the report of their times."""
    page.goto(url)
    page.wait_for_selector("body[data-preview=true]", timeout=60_000)
    last = TURNS * PER_TURN
    assert page.get_attribute("body", "data-position") == str(last)
    moves = [
        ("key", "Home", 0),
        ("click", 0.5, None),
        ("click", 0.1, None),  # backwards: redrawn from the start
        ("click", 0.95, None),
        ("key", "ArrowLeft", None),
        ("click", 0.02, None),
        ("key", "End", last),
    ]
    timings = []
    for kind, value, seq in moves:
        before = page.get_attribute("body", "data-position")
        took = page.evaluate(MEASURE, [kind, value])
        after = page.get_attribute("body", "data-position")
        assert after != before
        if seq is not None:
            assert after == str(seq)
        timings.append((f"{kind} {value}", after, took))
    report = "\n".join(f"  seek by {how:<16} to #{at:>5}: {ms:6.1f} ms" for how, at, ms in timings)
    slow = [(how, ms) for how, _, ms in timings if ms >= SEEK_BUDGET_MS]
    with capsys.disabled():
        print(f"\n20,000 events ({what}), seek times (budget {SEEK_BUDGET_MS} ms):\n{report}")
    assert not slow, f"seeks over {SEEK_BUDGET_MS} ms: {slow}\n{report}"
    return report


@pytest.mark.browser
def test_seeking_anywhere_in_20000_events_is_fast(
    page: Any, big: str, capsys: Any, artifacts: Path
) -> None:
    report = seek_everywhere(page, big, "typed answers", capsys)
    (ARTIFACTS / "seek-times.txt").write_text(report + "\n")

    # The middle of turn 50: its answer so far, rendered, and the turns before it.
    page.evaluate(MEASURE, ["click", 0.5])
    position = int(page.get_attribute("body", "data-position"))
    assert position == pytest.approx(TURNS * PER_TURN / 2, abs=2)
    # The stage holds the latest 200 items (turn 50's prompt and the 49 turns of four
    # before it, and turn 1 but for its prompt); the rest on request.
    assert page.locator("#transcript .prompt").count() == TURNS // 2
    assert page.text_content("#earlier") == "Show 1 earlier item (1 not shown)"
    page.click("#earlier")
    assert page.locator("#transcript .prompt").count() == TURNS // 2 + 1
    assert page.locator("#earlier").is_hidden()
    # The inspector shows the selected event's row, scrolled into its own view.
    current = page.locator("#event-list [aria-current=true]")
    assert current.text_content().startswith(f"#{position}")
    list_box = page.locator("#event-scroll").bounding_box()
    row_box = current.bounding_box()
    assert list_box["y"] <= row_box["y"] <= list_box["y"] + list_box["height"] - row_box["height"]
    page.screenshot(path=str(artifacts / "viewer-big.png"))


@pytest.mark.browser
def test_the_dom_stays_bounded_and_delta_runs_are_one_row(page: Any, big: str) -> None:
    page.goto(big)
    page.wait_for_selector("body[data-preview=true]", timeout=60_000)
    nodes = page.evaluate("document.querySelectorAll('*').length")
    rows = page.locator("#event-list li").count()
    assert rows < 100, f"the inspector drew {rows} rows"
    # 100 turns of four items each, and their parts: a few thousand nodes, not 50,000.
    assert nodes < 6000, f"{nodes} elements on the page"
    run = page.locator("#event-list .run").first
    assert run.text_content().startswith("#5message.delta \u00d7 196 (to #200)")
    run.locator("button").click()
    page.wait_for_selector("#event-list [data-seq='6']", timeout=TIMEOUT_MS)
    page.click("#event-list [data-seq='6']")
    page.wait_for_selector("#raw-title:text-is('Event #6 · message.delta')", timeout=TIMEOUT_MS)
    assert page.get_attribute("#event-list [data-seq='6']", "aria-current") == "true"
    # Scrolled to the end of the list, the last rows are drawn (and only those).
    page.evaluate("document.querySelector('#event-scroll').scrollTop = 1e9")
    page.wait_for_selector("#event-list [data-seq='6']", state="detached", timeout=TIMEOUT_MS)
    assert page.locator("#event-list li").count() < 100


@pytest.mark.browser
def test_20000_items_seek_fast_with_a_bounded_stage(
    page: Any, many: str, capsys: Any, artifacts: Path
) -> None:
    seek_everywhere(page, many, "each an item", capsys)
    assert page.locator("#transcript > li").count() == 200
    nodes = page.evaluate("document.querySelectorAll('*').length")
    assert nodes < 4000, f"{nodes} elements on the page"
    page.screenshot(path=str(artifacts / "viewer-many.png"))
    # An event just before the stage's items brings its item back; one far back is
    # shown in the inspector only, and the stage stays as small.
    page.click("#earlier")
    assert page.locator("#transcript > li").count() == 400
    page.evaluate("document.querySelector('#event-scroll').scrollTop = 0")
    page.click("#event-list [data-seq='2']")
    page.wait_for_selector("#raw-title:text-is('Event #2 \u00b7 tool.call')", timeout=TIMEOUT_MS)
    assert page.locator("#transcript .selected").count() == 0
    assert page.locator("#transcript > li").count() == 400
