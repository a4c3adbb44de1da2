"""A page on another origin cannot write through a visitor's real browser (headless Chromium).

The page is served by one real server (http://127.0.0.1:P1) and replaydeck by
another (http://localhost:P2), so the browser treats them as different sites, as
it would a web page and a replaydeck running on the visitor's machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve
from tests.share.conftest import chromium

pytestmark = pytest.mark.browser
TIMEOUT_MS = 15_000

# Each write as a page can send it without asking the server first ("simple"
# requests), then the same as a JSON request, which the browser sends only if
# the server's CORS answer admits the page's origin.
ATTACK = """async (target) => {
  const event = JSON.stringify({type: "status", data: {label: "planted"}});
  const sent = [];
  async function attempt(name, url, init) {
    try { const r = await fetch(url, init); sent.push([name, r.type, r.status]); }
    catch (error) { sent.push([name, "refused by the browser", 0]); }
  }
  await attempt("typeless", target + "/v1/sessions/typeless/events",
    {mode: "no-cors", method: "POST", body: new Blob([event])});
  await attempt("text", target + "/v1/sessions/text/events",
    {mode: "no-cors", method: "POST", body: event});
  await attempt("create", target + "/v1/sessions",
    {mode: "no-cors", method: "POST", body: new Blob([JSON.stringify({id: "created"})])});
  await attempt("json", target + "/v1/sessions/json/events",
    {method: "POST", headers: {"Content-Type": "application/json"}, body: event});
  await attempt("delete", target + "/v1/sessions/victim", {method: "DELETE"});
  return sent;
}"""
WRITTEN = ("typeless", "text", "created", "json")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def elsewhere() -> Iterator[RunningServer]:
    """Another site: a page with nothing on it, on http://127.0.0.1:P1."""
    site = FastAPI()

    @site.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return "<!doctype html><title>another site</title><p>Nothing to see.</p>"

    with serve(site) as running:
        yield running


def attack(browser: Any, page_url: str, replaydeck: RunningServer) -> list[list[Any]]:
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(page_url, timeout=TIMEOUT_MS)
        sent: list[list[Any]] = tab.evaluate(ATTACK, f"http://localhost:{replaydeck.port}")
        return sent
    finally:
        context.close()


def stored(replaydeck: RunningServer) -> dict[str, int]:
    with httpx.Client(base_url=replaydeck.url, timeout=10) as http:
        statuses = {name: http.get(f"/v1/sessions/{name}").status_code for name in WRITTEN}
        statuses["victim"] = http.get("/v1/sessions/victim").status_code
    return statuses


def victim(replaydeck: RunningServer) -> None:
    with httpx.Client(base_url=replaydeck.url, timeout=10) as http:
        made = http.post(
            "/v1/sessions/victim/events", json={"type": "status", "data": {"label": "mine"}}
        )
        assert made.status_code == 200


def test_a_page_on_another_site_cannot_write_to_an_open_api(
    browser: Any,
    elsewhere: RunningServer,
    server: RunningServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    victim(server)
    with caplog.at_level("INFO", logger="replaydeck.access"):
        sent = attack(browser, elsewhere.url, server)
    assert [name for name, *_ in sent] == ["typeless", "text", "create", "json", "delete"]
    # The simple requests reached the server and were refused there, not by the browser.
    lines = [r.getMessage() for r in caplog.records if r.name == "replaydeck.access"]
    assert "POST /v1/sessions/typeless/events 403" in lines
    assert "POST /v1/sessions/text/events 403" in lines
    assert "POST /v1/sessions 403" in lines
    # The JSON write and the delete needed the server's CORS consent, which never came.
    assert ["json", "refused by the browser", 0] in sent
    assert ["delete", "refused by the browser", 0] in sent
    assert stored(server) == {
        "typeless": 404,
        "text": 404,
        "created": 404,
        "json": 404,
        "victim": 200,
    }


def test_an_allowed_origin_writes_json_but_never_an_undeclared_body(
    browser: Any, elsewhere: RunningServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    allowed = settings.model_copy(update={"allowed_origins": [elsewhere.url]})
    with serve(create_app(allowed)) as replaydeck:
        victim(replaydeck)
        with caplog.at_level("INFO", logger="replaydeck.access"):
            sent = attack(browser, elsewhere.url, replaydeck)
        lines = [r.getMessage() for r in caplog.records if r.name == "replaydeck.access"]
        assert "POST /v1/sessions/typeless/events 415" in lines
        assert "POST /v1/sessions/text/events 415" in lines
        assert "POST /v1/sessions 415" in lines
        # Admitted by CORS: the JSON append and the delete went through and were answered.
        assert ["json", "cors", 200] in sent
        assert ["delete", "cors", 204] in sent
        # The allow-list admits the origin, not bodies that do not say they are JSON.
        assert stored(replaydeck) == {
            "typeless": 404, "text": 404, "created": 404, "json": 200, "victim": 404,
        }  # fmt: skip


# /langsmith takes multipart and untyped bodies (the LangSmith SDKs send them), which
# a page can send unasked: a form post and an untyped fetch.
LANGSMITH_RUN = "0190a5c2-0000-7000-8000-0000000000f1"
LANGSMITH_ATTACK = """async ([target, run]) => {
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


def test_a_page_on_another_site_cannot_plant_langsmith_runs(
    browser: Any,
    elsewhere: RunningServer,
    server: RunningServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = browser.new_context()
    with caplog.at_level("INFO", logger="replaydeck.access"):
        tab = context.new_page()
        tab.goto(elsewhere.url, timeout=TIMEOUT_MS)
        target = f"http://localhost:{server.port}"
        sent = tab.evaluate(LANGSMITH_ATTACK, [target, LANGSMITH_RUN])
    context.close()
    # Both reached the server (opaque answers) and were refused there.
    assert sent == [["multipart", "opaque"], ["batch", "opaque"]]
    lines = [r.getMessage() for r in caplog.records if r.name == "replaydeck.access"]
    assert "POST /langsmith/runs/multipart 403" in lines
    assert "POST /langsmith/runs/batch 403" in lines
    assert httpx.get(f"{server.url}/v1/sessions/{LANGSMITH_RUN}").status_code == 404
