"""A page on another site cannot plant LangSmith runs through a visitor's browser.

/langsmith takes multipart and untyped bodies (the SDKs send them), which a page can
send without a CORS preflight; the origin check must refuse them (headless Chromium,
the page on http://127.0.0.1:P1, replaydeck on http://localhost:P2).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from tests.servers import RunningServer, serve
from tests.share.conftest import chromium

pytestmark = pytest.mark.browser
RUN = "0190a5c2-0000-7000-8000-0000000000f1"
# A form post and an untyped fetch: both are "simple" requests, sent unasked.
ATTACK = """async ([target, run]) => {
  const sent = [];
  const form = new FormData();
  form.append("post." + run, new Blob([JSON.stringify({id: run, name: "planted"})],
                                      {type: "application/json"}));
  for (const [name, path, body] of [
    ["multipart", "/langsmith/runs/multipart", form],
    ["batch", "/langsmith/runs/batch", new Blob([JSON.stringify({post: [{id: run}]})])],
  ]) {
    try {
      const r = await fetch(target + path, {mode: "no-cors", method: "POST", body});
      sent.push([name, r.type]);
    } catch (error) { sent.push([name, "refused by the browser"]); }
  }
  return sent;
}"""


@pytest.fixture
def elsewhere() -> Iterator[RunningServer]:
    site = FastAPI()

    @site.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return "<!doctype html><title>another site</title>"

    with serve(site) as running:
        yield running


def test_a_page_on_another_site_cannot_plant_runs(
    elsewhere: RunningServer, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    with chromium() as browser, caplog.at_level("INFO", logger="replaydeck.access"):
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(elsewhere.url, timeout=15_000)
        sent = tab.evaluate(ATTACK, [f"http://localhost:{server.port}", RUN])
        context.close()
    # Both reached the server (opaque answers) and were refused there.
    assert sent == [["multipart", "opaque"], ["batch", "opaque"]]
    lines = [r.getMessage() for r in caplog.records if r.name == "replaydeck.access"]
    assert "POST /langsmith/runs/multipart 403" in lines
    assert "POST /langsmith/runs/batch 403" in lines
    assert httpx.get(f"{server.url}/v1/sessions/{RUN}").status_code == 404
