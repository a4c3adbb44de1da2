"""An Agents SDK run exported to replaydeck plays in the viewer (headless Chromium)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from agents import Runner, trace
from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import serve
from tests.share.conftest import chromium
from tests.share.test_viewer_browser import TIMEOUT_MS, open_viewer, play_at_max
from tests.telemetry.agents_app import tracing_to, weather_agent
from tests.telemetry.recorded_run import ANSWER, QUESTION, TOOL_OUTPUT


@pytest.mark.browser
def test_the_viewer_plays_an_exported_agent_run(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/agents.db")
    with serve(create_app(settings)) as running:
        exporter = BackendSpanExporter(api_key="open", endpoint=f"{running.url}/v1/traces/ingest")
        processor = BatchTraceProcessor(exporter, schedule_delay=60)
        # Synchronous, before the browser starts: Playwright's sync API holds a loop.
        with tracing_to(processor), trace("Weather workflow") as current:
            # asyncio.run, not Runner.run_sync, which leaves its event loop open.
            asyncio.run(Runner.run(weather_agent(), QUESTION))
        processor.force_flush()
        exporter.close()
        with chromium() as browser:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            open_viewer(page, f"{running.url}/sessions/{current.trace_id}")
            play_at_max(page)
            page.wait_for_selector(".message .text", timeout=TIMEOUT_MS)
            assert page.text_content(".message .text") == ANSWER
            assert QUESTION in page.text_content("#transcript")
            card = page.locator(".tool", has_text="get_weather")
            assert "done" in card.locator(".tool-state").text_content()
            card.locator("summary").click()
            assert TOOL_OUTPUT in card.locator(".tool-result").text_content()
            page.close()
    assert not errors, f"the viewer raised JavaScript errors: {errors}"
