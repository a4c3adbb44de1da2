"""Every /v1 route x no key / wrong scope / right scope, generated from the app's routes.

The routes come from the app itself, so a route added later is in the matrix
without anyone editing this file; a route outside /v1 must be listed in PUBLIC
below on purpose, or the classification test fails.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from replaydeck.auth.access import required_scope
from replaydeck.auth.keys import Scope, allows
from replaydeck.config import Settings
from replaydeck.web.app import create_app

pytestmark = pytest.mark.anyio

# Routes that are deliberately reachable without a key, and why.
PUBLIC = {
    "/openapi.json": "API description",
    "/docs": "API docs",
    "/docs/oauth2-redirect": "API docs",
    "/redoc": "API docs",
    "/healthz": "liveness probe",
    "/readyz": "readiness probe",
    "/metrics": "Prometheus scrape (counts only, no session data)",
    "/": "sessions page shell; its list comes from /v1 with a key",
    "/sessions": "sessions page shell; its list comes from /v1 with a key",
    "/sessions/{session_id}": "viewer shell; its data comes from /v1 with a key",
    "/viewer/{version}/{name}": "viewer assets",
    "/r/{token}": "share link: the signed token is the credential",
    "/r/{token}/session": "share link",
    "/r/{token}/events": "share link",
    "/r/{token}/stream": "share link",
    "/r/{token}/replay": "share link",
}


def app_routes() -> list[tuple[str, str]]:
    # Building the app touches no database; only the lifespan does.
    app = create_app(Settings(database_url="sqlite+aiosqlite:///./unused-by-collection.db"))
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path is not None:
                found.add((method, route.path))
    return sorted(found)


ROUTES = app_routes()
V1_ROUTES = [(method, path) for method, path in ROUTES if path.startswith("/v1/")]
# The LangSmith SDKs' endpoints take an ingest key as x-api-key
# (tests/telemetry/test_langsmith_http.py checks them).
KEYED_ELSEWHERE = ("/langsmith/",)

SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/sessions"): {"metadata": {"from": "matrix"}},
    ("POST", "/v1/sessions/{session_id}/events"): [{"type": "status", "data": {"label": "x"}}],
    ("POST", "/v1/sessions/{session_id}/shares"): {"expires_in": 3600},
    ("POST", "/v1/traces/ingest"): {"data": [{"object": "trace", "id": "trace_matrix"}]},
}


def test_the_route_table_was_read() -> None:
    assert ("POST", "/v1/sessions/{session_id}/events") in V1_ROUTES
    assert ("GET", "/v1/sessions/{session_id}/replay") in V1_ROUTES
    assert ("DELETE", "/v1/shares/{share_id}") in V1_ROUTES
    assert len(V1_ROUTES) >= 10


def test_every_route_is_either_v1_or_deliberately_public() -> None:
    unclassified = sorted(
        {
            path
            for _, path in ROUTES
            if not path.startswith(("/v1/", *KEYED_ELSEWHERE)) and path not in PUBLIC
        }
    )
    assert not unclassified, f"new routes outside /v1 need a decision: {unclassified}"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/sessions", Scope.INGEST),
        ("POST", "/v1/sessions/{session_id}/events", Scope.INGEST),
        ("POST", "/v1/traces/ingest", Scope.INGEST),
        ("GET", "/v1/sessions/{session_id}/events", Scope.READ),
        ("GET", "/v1/sessions/{session_id}/trace", Scope.READ),
        ("DELETE", "/v1/sessions/{session_id}", Scope.ADMIN),
        ("POST", "/v1/sessions/{session_id}/shares", Scope.ADMIN),
        ("DELETE", "/v1/shares/{share_id}", Scope.ADMIN),
        ("PATCH", "/v1/sessions/{session_id}", Scope.ADMIN),
        ("GET", "/healthz", None),
        ("GET", "/r/{token}", None),
        ("GET", "/v10/x", None),
        ("GET", "/langsmith/info", Scope.INGEST),
        ("POST", "/langsmith/runs/multipart", Scope.INGEST),
        ("PATCH", "/langsmith/runs/{run_id}", Scope.INGEST),
        ("GET", "/langsmithx", None),
    ],
)
def test_required_scope(method: str, path: str, expected: Scope | None) -> None:
    assert required_scope(method, path) == expected


async def setup(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    """A complete session s1, one share of it, and a key of every scope."""
    response = await client.post(
        "/v1/sessions/s1/events",
        json=[{"type": "status", "data": {"label": "a"}}, {"type": "final", "data": {}}],
    )
    assert response.status_code == 200, response.text
    shared = await client.post("/v1/sessions/s1/shares", json={"expires_in": 3600})
    assert shared.status_code == 201, shared.text
    keys = {
        scope: (await app.state.keys.create(scope, f"matrix {scope}")).secret for scope in Scope
    }
    return {"share_id": shared.json()["id"], **{str(s): k for s, k in keys.items()}}


def concrete(path: str, share_id: str) -> str:
    path = path.replace("{session_id}", "s1").replace("{share_id}", share_id)
    return re.sub(r"\{[^}]+\}", "x", path)


async def call(
    client: httpx.AsyncClient, method: str, template: str, url: str, key: str | None
) -> httpx.Response:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    # s1 is complete, so the live tail and the replay answer 204 at once instead
    # of streaming: the auth check is what this test is about.
    headers["Last-Event-ID"] = "999"
    return await client.request(
        method, url, headers=headers, json=SAMPLE_BODIES.get((method, template))
    )


@pytest.mark.parametrize(("method", "path"), V1_ROUTES, ids=[f"{m} {p}" for m, p in V1_ROUTES])
async def test_route_checks_the_key_scope(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str
) -> None:
    made = await setup(app, client)
    url = concrete(path, made["share_id"])
    needed = required_scope(method, path)
    assert needed is not None

    missing = await call(client, method, path, url, None)
    assert missing.status_code == 401, missing.text
    assert missing.headers["content-type"] == "application/problem+json"
    assert f"--scope {needed}" in missing.json()["detail"]

    unknown = await call(client, method, path, url, "rdk_" + "0" * 43)
    assert unknown.status_code == 401, unknown.text
    assert "not known or was revoked" in unknown.json()["detail"]

    for scope in Scope:
        if allows(scope, needed):
            continue
        wrong = await call(client, method, path, url, made[str(scope)])
        assert wrong.status_code == 403, (scope, wrong.text)
        assert f"has the {scope} scope" in wrong.json()["detail"]

    # Right scopes last: admin may delete s1.
    for scope in sorted((s for s in Scope if allows(s, needed)), key=lambda s: s is Scope.ADMIN):
        right = await call(client, method, path, url, made[str(scope)])
        assert right.status_code not in (401, 403), (scope, right.text)
        assert right.status_code < 500, (scope, right.text)
