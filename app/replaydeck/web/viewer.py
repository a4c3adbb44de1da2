"""The viewer's pages: the replay viewer and the sessions list. Each is an HTML
shell, ES modules and a stylesheet, no build step.

The pages hold no session data. It reads everything from a base path (`{base}/events`,
`{base}/replay`, and the session JSON), so the same shell serves a share link
(`/r/{token}`) and a key holder (`/sessions/{id}` over `/v1/sessions/{id}`).
"""

from __future__ import annotations

import hashlib
import html
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from replaydeck.errors import ReplaydeckError

STATIC_DIR = Path(__file__).parent / "static"
ASSET_PREFIX = "/viewer"

# Only these files are served: a fixed allow-list rather than a directory mount, so no
# path from a request ever reaches the file system.
JS = "text/javascript; charset=utf-8"
ASSETS: dict[str, str] = {
    "viewer.js": JS,
    "dom.js": JS,
    "http.js": JS,
    "header.js": JS,
    "inspector.js": JS,
    "markdown.js": JS,
    "actions.js": JS,
    "follow.js": JS,
    "sessions.js": JS,
    "timeline.js": JS,
    "transcript.js": JS,
    "viewer.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

Mode = Literal["share", "key"]


class AssetNotFound(ReplaydeckError):
    status = 404
    slug = "asset-not-found"
    title = "No such viewer asset"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"The viewer has no asset {name[:60]!r}; it serves only "
            f"{', '.join(sorted(ASSETS))}. Reload the page to get current links."
        )


# The page runs untrusted event data through textContent only; the policy is a second
# wall: no inline script, no third-party origin, nothing but same-origin fetches.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

VIEWER_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@cache
def assets_version() -> str:
    # One hash over every asset goes into their common path, so the modules that
    # viewer.js imports by relative URL are versioned too, and browsers may cache
    # them for good without ever pairing a stale module with a newer page.
    digest = hashlib.sha256()
    for name in sorted(ASSETS):
        digest.update(name.encode() + b"\0" + (STATIC_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


def asset_url(name: str, *, root_path: str = "") -> str:
    return f"{root_path}{ASSET_PREFIX}/{assets_version()}/{name}"


def render_page(shell_name: str, values: dict[str, str], *, root_path: str = "") -> str:
    """The HTML shell `shell_name` with its {{placeholders}} filled, every value escaped."""
    shell = (STATIC_DIR / shell_name).read_text(encoding="utf-8")
    # Both pages share their head and the notice (errors, the key form): fragments,
    # put in before the values are, so their placeholders are filled too.
    for fragment in ("head", "notice"):
        text = (STATIC_DIR / f"{fragment}.html").read_text(encoding="utf-8")
        shell = shell.replace("{{" + fragment + "}}", text)
    values = {
        **values,
        "css": asset_url("viewer.css", root_path=root_path),
        "icon": asset_url("favicon.svg", root_path=root_path),
        "root": root_path,
    }
    for key, value in values.items():
        shell = shell.replace("{{" + key + "}}", html.escape(value, quote=True))
    return shell


def render_viewer(
    base: str,
    *,
    session_url: str | None = None,
    mode: Mode = "share",
    root_path: str = "",
) -> str:
    """The viewer's HTML for the session behind `base`.

    `session_url` defaults to `{base}/session` (share links); a key holder's session
    JSON lives at `base` itself. In `key` mode the page asks for an API key when the
    API answers 401 and sends it as a bearer token.
    """
    values = {
        "base": base,
        "session_url": session_url if session_url is not None else f"{base}/session",
        "mode": mode,
        "js": asset_url("viewer.js", root_path=root_path),
    }
    return render_page("viewer.html", values, root_path=root_path)


def viewer_response(
    base: str,
    *,
    session_url: str | None = None,
    mode: Mode = "share",
    root_path: str = "",
) -> HTMLResponse:
    """The viewer page with its security headers (CSP, no referrer, no caching)."""
    page = render_viewer(base, session_url=session_url, mode=mode, root_path=root_path)
    return HTMLResponse(page, headers=VIEWER_HEADERS)


router = APIRouter(include_in_schema=False)


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_viewer(session_id: str, request: Request) -> HTMLResponse:
    # The page itself carries nothing secret, so it is served to anyone; every read
    # behind it goes through the /v1 API and its key check.
    root_path = str(request.scope.get("root_path", ""))
    base = f"{root_path}/v1/sessions/{quote(session_id, safe='')}"
    return viewer_response(base, session_url=base, mode="key", root_path=root_path)


@router.get("/", response_class=HTMLResponse)
@router.get("/sessions", response_class=HTMLResponse)
async def sessions_page(request: Request) -> HTMLResponse:
    # Like the viewer, the page is served to anyone: the list behind it is /v1's.
    root_path = str(request.scope.get("root_path", ""))
    values = {"js": asset_url("sessions.js", root_path=root_path)}
    page = render_page("sessions.html", values, root_path=root_path)
    return HTMLResponse(page, headers=VIEWER_HEADERS)


@router.get(ASSET_PREFIX + "/{version}/{name}")
async def viewer_asset(version: str, name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise AssetNotFound(name)
    # A page from before an upgrade still gets today's file, but must not keep it.
    current = version == assets_version()
    return FileResponse(
        STATIC_DIR / name,
        media_type=media_type,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable" if current else "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )
