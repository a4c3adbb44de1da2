"""The transcript as the user saw it: user turns, assistant markdown, how it ended."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.share.conftest import T0
from tests.share.test_viewer_browser import TIMEOUT_MS, open_viewer, play_at_max

ANSWER = """# Order status

Your order **A-1001** is *on its way*; track it [here](https://example.com/t?id=1).

- shipped ~~Monday~~ Tuesday
- arrives in `2 days`
  1. nested one
  2. nested two

> quoted _line_

```python
print("<b>hi</b>")
```

| item | qty |
|------|-----|
| tea  | 2   |

Bare https://example.org/docs. and snake_case_name stay as written. 3! ![a chart](https://example.com/c.png)"""


def record(url: str, session_id: str, events: list[dict[str, Any]], step_ms: int = 50) -> None:
    """Append `events` to a new session, `step_ms` apart unless an event says its `ts`."""
    stamped = []
    for i, event in enumerate(events):
        ts = T0 + timedelta(milliseconds=event.pop("at_ms", i * step_ms))
        stamped.append({**event, "ts": ts.isoformat().replace("+00:00", "Z")})
    with httpx.Client(base_url=url, timeout=30) as http:
        appended = http.post(f"/v1/sessions/{session_id}/events", json=stamped)
        assert appended.status_code == 200, appended.text


def deltas(text: str, size: int) -> list[dict[str, Any]]:
    """`text` cut into deltas of `size` characters: markup split mid-way, as models stream."""
    return [
        {"type": "message.delta", "data": {"text": text[i : i + size], "message_id": "m1"}}
        for i in range(0, len(text), size)
    ]


def markdown_shape(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
          const md = document.querySelector('.message .md');
          const texts = (sel) => [...md.querySelectorAll(sel)].map((n) => n.textContent);
          return {
            h: texts('.md-h1'), strong: texts('strong'), em: texts('em'), del: texts('del'),
            code: texts('code.md-inline'), pre: texts('pre.md-code code'),
            lang: [...md.querySelectorAll('pre.md-code')].map((n) => n.dataset.lang),
            ul: md.querySelectorAll(':scope > ul > li').length,
            ol: texts('ul ol > li'), quote: texts('blockquote'),
            cells: texts('td'), heads: texts('th'),
            links: [...md.querySelectorAll('a')].map((a) => [a.textContent, a.href, a.rel]),
          };
        }"""
    )


@pytest.mark.browser
def test_assistant_markdown_is_rendered_as_elements(
    page: Any, server: Any, artifacts: Path
) -> None:
    record(
        server.url,
        "md-1",
        [
            {"type": "user.message", "data": {"text": "Where is my order?"}},
            *deltas(ANSWER, 7),
            {"type": "final", "data": {}},
        ],
    )
    open_viewer(page, f"{server.url}/sessions/md-1")
    play_at_max(page)
    shape = markdown_shape(page)
    assert shape["h"] == ["Order status"]
    assert shape["strong"] == ["A-1001"]
    assert shape["em"] == ["on its way", "line"]
    assert shape["del"] == ["Monday"]
    assert shape["code"] == ["2 days"]
    assert shape["pre"] == ['print("<b>hi</b>")']
    assert shape["lang"] == ["python"]
    assert shape["ul"] == 2
    assert shape["ol"] == ["nested one", "nested two"]
    assert shape["quote"] == ["quoted line"]
    assert shape["heads"] == ["item", "qty"]
    assert shape["cells"] == ["tea", "2"]
    assert shape["links"] == [
        ["here", "https://example.com/t?id=1", "noopener noreferrer nofollow"],
        ["https://example.org/docs", "https://example.org/docs", "noopener noreferrer nofollow"],
        ["image: a chart", "https://example.com/c.png", "noopener noreferrer nofollow"],
    ]
    assert page.locator(".message img").count() == 0
    assert "snake_case_name" in page.text_content(".message .md")
    assert page.locator(".message .md b").count() == 0
    # The user's turn is a bubble of its own, on the right of the answer.
    prompt = page.locator(".prompt").bounding_box()
    answer = page.locator(".message").bounding_box()
    assert prompt["x"] > answer["x"]
    assert page.text_content(".prompt .text") == "Where is my order?"
    assert page.text_content(".final") == "Session complete"
    page.screenshot(path=str(artifacts / "viewer-markdown.png"), full_page=True)


@pytest.mark.browser
def test_streaming_markdown_grows_without_redrawing_earlier_blocks(page: Any, server: Any) -> None:
    text = "First paragraph stays.\n\nSecond **bold** grows"
    record(server.url, "md-2", [*deltas(text, 4), {"type": "final", "data": {}}])
    open_viewer(page, f"{server.url}/sessions/md-2", "?at=9")
    page.wait_for_selector("body[data-position='9']", timeout=TIMEOUT_MS)
    # 36 characters in: the bold is still open, so its stars show as typed.
    assert page.text_content(".message .md p:last-child") == "Second **bol"
    page.evaluate("window.firstBlock = document.querySelector('.message .md p')")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("body[data-position='10']", timeout=TIMEOUT_MS)
    assert page.text_content(".message .md strong") == "bold"
    assert page.evaluate("window.firstBlock === document.querySelector('.message .md p')")
    assert page.evaluate("window.firstBlock.isConnected")


# Payloads for the markdown renderer: raw HTML, scripts and handlers, and links whose
# scheme would run code, written the ways markdown lets them be written.
XSS_PAYLOADS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 2">',
    "<svg onload=window.__xss=3>",
    "[click](javascript:window.__xss=4)",
    "[click](JaVaScRiPt:window.__xss=5)",
    "[click]( javascript:window.__xss=6 )",
    "[click](java\tscript:window.__xss=7)",
    "[click](data:text/html,<script>window.__xss=8</script>)",
    "[click](vbscript:msgbox(9))",
    "<javascript:window.__xss=10>",
    '[x](https://ok.example "title" onmouseover="window.__xss=11")',
    "![img](javascript:window.__xss=12)",
    "**<iframe src=javascript:window.__xss=13>**",
    "`<script>window.__xss=14</script>`",
    "```html\n<script>window.__xss=15</script>\n```",
    "[a](/relative/path)",
    "[b](//evil.example/x)",
    '<a href="javascript:window.__xss=16">a</a>',
    "&lt;script&gt;window.__xss=17&lt;/script&gt;",
    "# <img src=x onerror=window.__xss=18>",
    "| <img src=x onerror=window.__xss=19> |\n|---|\n| [c](javascript:window.__xss=20) |",
]


@pytest.mark.browser
def test_xss_payloads_stay_text_in_markdown(page: Any, server: Any) -> None:
    events = [
        {"type": "message.delta", "data": {"text": payload + "\n\n", "message_id": "m1"}}
        for payload in XSS_PAYLOADS
    ]
    record(server.url, "xss-1", [*events, {"type": "final", "data": {}}])
    open_viewer(page, f"{server.url}/sessions/xss-1")
    play_at_max(page)
    for anchor in page.locator(".message a").all():
        anchor.click(modifiers=["Alt"])  # a click that would run a javascript: link
    found = page.evaluate(
        """() => {
          const md = document.querySelector('.message .md');
          const allowed = new Set(['P','STRONG','EM','DEL','CODE','PRE','A','SPAN','BR',
            'H3','DIV','TABLE','THEAD','TBODY','TR','TH','TD','UL','OL','LI']);
          const nodes = [...md.querySelectorAll('*')];
          return {
            xss: window.__xss ?? null,
            tags: [...new Set(nodes.map((n) => n.tagName).filter((t) => !allowed.has(t)))],
            handlers: nodes.flatMap((n) => [...n.attributes].map((a) => a.name))
              .filter((name) => name.startsWith('on')),
            hrefs: [...md.querySelectorAll('a')].map((a) => a.getAttribute('href')),
            text: md.textContent,
          };
        }"""
    )
    assert found["xss"] is None
    assert found["tags"] == []
    assert found["handlers"] == []
    assert found["hrefs"] == ["https://ok.example/"]
    for shown in ("<script>window.__xss = 1</script>", "<svg onload=window.__xss=3>"):
        assert shown in found["text"]


@pytest.mark.parametrize(
    ("final", "kind", "text"),
    [
        ({"synthetic": True, "reason": "interrupted"}, "end-interrupted", "Interrupted"),
        ({"synthetic": True, "reason": "eof"}, "end-interrupted", "without a final event"),
        (
            {"synthetic": True, "reason": "error", "exception_type": "LookupError"},
            "end-error",
            "Ended by an error in the app (LookupError)",
        ),
        ({"synthetic": True, "reason": "complete"}, "end-complete", "Session complete"),
    ],
)
@pytest.mark.browser
def test_an_end_that_is_not_complete_is_shown_as_such(
    page: Any, server: Any, final: dict[str, Any], kind: str, text: str, artifacts: Path
) -> None:
    events = [
        {"type": "user.message", "data": {"text": "Tell me a story"}},
        {"type": "message.delta", "data": {"text": "Once upon"}},
        {"type": "final", "data": final},
    ]
    record(server.url, "cut-1", events)
    open_viewer(page, f"{server.url}/sessions/cut-1")
    play_at_max(page)
    end = page.locator("#transcript .final")
    assert kind in end.get_attribute("class")
    assert text in end.text_content()
    if kind != "end-complete":
        assert "Session complete" not in end.text_content()
    if final["reason"] == "interrupted":
        end.screenshot(path=str(artifacts / "viewer-interrupted.png"))


@pytest.mark.browser
def test_markdown_reads_in_dark_mode(browser: Any, server: Any, artifacts: Path) -> None:
    record(server.url, "md-dark", [*deltas(ANSWER, 50), {"type": "final", "data": {}}])
    context = browser.new_context(viewport={"width": 900, "height": 900}, color_scheme="dark")
    try:
        page = context.new_page()
        open_viewer(page, f"{server.url}/sessions/md-dark")
        play_at_max(page)
        colours = page.evaluate(
            """() => {
              const style = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
              return [style('.message', 'backgroundColor'),
                      style('.md pre.md-code', 'backgroundColor'),
                      style('.md p', 'color'), style('.md a', 'color')];
            }"""
        )
        bubble, code, text, link = colours
        assert code != bubble  # code blocks stand out from the answer around them
        assert text == "rgb(236, 236, 239)"  # the dark palette's text colour
        assert link == "rgb(125, 155, 255)"
        page.locator(".message").screenshot(path=str(artifacts / "viewer-markdown-dark.png"))
    finally:
        context.close()
