"""Reading back what a framework's exporter recorded, through the public API."""

from __future__ import annotations

from typing import Any

import httpx


def langsmith_sessions(base_url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/v1/sessions", params={"metadata": "source=langsmith"})
    assert response.status_code == 200, response.text
    sessions: list[dict[str, Any]] = response.json()["sessions"]
    return sessions


def events_of(base_url: str, session_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/v1/sessions/{session_id}/events")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def only_session(base_url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (session,) = langsmith_sessions(base_url)
    return session, events_of(base_url, session["id"])
