"""Reading back what a framework's exporter recorded, through the public API."""

from __future__ import annotations

from typing import Any

import httpx


def _headers(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


def langsmith_sessions(base_url: str, key: str | None = None) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{base_url}/v1/sessions", params={"metadata": "source=langsmith"}, headers=_headers(key)
    )
    assert response.status_code == 200, response.text
    sessions: list[dict[str, Any]] = response.json()["sessions"]
    return sessions


def events_of(base_url: str, session_id: str, key: str | None = None) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/v1/sessions/{session_id}/events", headers=_headers(key))
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def only_session(
    base_url: str, key: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (session,) = langsmith_sessions(base_url, key)
    return session, events_of(base_url, session["id"], key)
