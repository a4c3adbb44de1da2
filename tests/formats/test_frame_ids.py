"""One stored event may become several frames in another protocol (a `finish` part and
`[DONE]`, a new message's `text-start` and its first `text-delta` …). Each frame has its
own id, `<seq>.<k>` inside the group and the seq on its last frame, and a client cut off
after any of them resumes right after it: nothing skipped, nothing repeated, on the
replay route and on its `/r/` share twin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from replaydeck.formats.sse import parse_all
from tests.formats.test_js_clients import SESSION
from tests.servers import RunningServer


def played(url: str, last_event_id: str | None = None) -> list[tuple[str | None, str]]:
    """Each frame's id and data (`retry:` rides in whichever block comes first)."""
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    response = httpx.get(url, params={"speed": "max", "format": "vercel-ai"}, headers=headers)
    assert response.status_code == 200, response.text
    return [(frame.id, frame.data) for frame in parse_all(response.content)]


def stored_and_shared(base_url: str, session_id: str, events: list[dict[str, Any]]) -> list[str]:
    """The session stored, and its replay URLs: the /v1 route and a share link's /r/ twin."""
    appended = httpx.post(f"{base_url}/v1/sessions/{session_id}/events", json=events)
    assert appended.status_code == 200, appended.text
    shared = httpx.post(f"{base_url}/v1/sessions/{session_id}/shares", json={})
    assert shared.status_code == 201, shared.text
    return [f"{base_url}/v1/sessions/{session_id}/replay", f"{shared.json()['url']}/replay"]


@pytest.fixture
def replay_urls(server: RunningServer) -> list[str]:
    return stored_and_shared(server.url, "groups", SESSION)


def test_every_frame_of_a_group_has_its_own_id_and_a_resume_after_it_is_exact(
    replay_urls: list[str],
) -> None:
    for url in replay_urls:
        full = played(url)
        ids = [frame_id for frame_id, _ in full]
        assert len(set(ids)) == len(ids)
        inside = [i for i, frame_id in enumerate(ids) if frame_id and "." in frame_id]
        # start + text-start + text-delta for the first event: two frames inside its group.
        assert ids[:3] == ["2.1", "2.2", "2"]
        assert inside, ids
        for i, frame_id in enumerate(ids[:-1]):
            assert frame_id is not None
            resumed = played(url, frame_id)
            assert full[: i + 1] + resumed == full, f"resumed after {frame_id}"


def test_a_frame_id_that_names_no_group_is_refused(replay_urls: list[str]) -> None:
    for bad in ("0.1", "2.", "2.x", ".1", "2.1.1"):
        response = httpx.get(
            replay_urls[0],
            params={"speed": "max", "format": "vercel-ai"},
            headers={"Last-Event-ID": bad},
        )
        assert response.status_code == 422, (bad, response.text)
