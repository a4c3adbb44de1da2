"""A LangGraph run recorded through the LangSmith SDK, played in the viewer (Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tracers.langchain import LangChainTracer
from langsmith import Client

from tests.servers import RunningServer
from tests.share.conftest import chromium
from tests.telemetry import langgraph_agent as agent
from tests.telemetry.sessions import only_session

TIMEOUT_MS = 15_000


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        yield tab
        context.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


@pytest.mark.browser
def test_the_viewer_plays_the_recorded_run(page: Any, server: RunningServer) -> None:
    client = Client(api_url=f"{server.url}/langsmith", api_key="unused")
    try:
        agent.ask(agent.build(), {"callbacks": [LangChainTracer(client=client)]})
        client.flush()
    finally:
        client.cleanup()
    session, _ = only_session(server.url)

    page.goto(f"{server.url}/sessions/{session['id']}")
    page.wait_for_selector("body:not([data-state=loading])", timeout=TIMEOUT_MS)
    page.click("[data-speed=max]")
    page.click("#play")
    page.wait_for_selector("body[data-state=ended]", timeout=TIMEOUT_MS)

    assert page.locator(".prompt .text").all_text_contents() == [agent.QUESTION]
    answers = [text.strip() for text in page.locator(".message .text").all_text_contents()]
    assert answers == [agent.FIRST, agent.ANSWER]
    card = page.locator(".tool", has_text="get_weather")
    assert "done" in card.locator(".tool-state").text_content()
    card.locator("summary").click()
    assert "Sunny in Paris" in card.locator(".tool-result").text_content()
    assert "output tokens: 15" in page.text_content(".final")
    artifacts = Path(__file__).resolve().parents[1] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "viewer-langgraph.png"), full_page=True)
