"""/docs and /redoc work without internet access (headless Chromium, every other host blocked)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import serve
from tests.share.conftest import chromium

pytestmark = pytest.mark.browser
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        # Swagger UI draws the API's title and one block per operation.
        ("/docs", ".swagger-ui .information-container .title"),
        # ReDoc draws the title as the page's first heading.
        ("/redoc", "h1"),
    ],
)
def test_the_api_docs_render_offline(
    browser: Any, settings: Settings, path: str, rendered: str
) -> None:
    with serve(create_app(settings)) as server:
        context = browser.new_context()
        requested: list[str] = []
        blocked: list[tuple[str, str]] = []

        def only_the_server(route: Any) -> None:
            url = route.request.url
            requested.append(url)
            if urlsplit(url).port == server.port:
                route.continue_()
            else:
                blocked.append((url, route.request.resource_type))
                route.abort()

        context.route("**/*", only_the_server)
        page = context.new_page()
        page.goto(f"{server.url}{path}", wait_until="load", timeout=TIMEOUT_MS)
        title = page.wait_for_selector(rendered, timeout=TIMEOUT_MS)
        assert title is not None
        assert "replaydeck" in title.inner_text()
        if path == "/docs":
            page.wait_for_selector(
                "#operations-ingest-append_events_v1_sessions__session_id__events_post",
                timeout=TIMEOUT_MS,
            )
        context.close()
    # ReDoc's bundle links its maker's logo from their CDN: an image that does
    # not show offline, while the whole page does. Nothing else leaves the server.
    assert all(kind == "image" for _, kind in blocked), f"{path} needed other hosts: {blocked}"
    assert path == "/redoc" or not blocked
    assert any("/docs/assets/" in url for url in requested)
