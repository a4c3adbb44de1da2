"""Where recorded sessions come from: files on disk or a replaydeck server.

A source is one of:

- an export archive (``replaydeck export``; see app/replaydeck/testing/archive.py),
- a golden file, or any NDJSON file of envelopes,
- a session on a server: ``http://host/v1/sessions/{id}``,
- a share link: ``http://host/r/{token}``.

Golden files hold the normal form, without seq or timing; they load as
envelopes numbered from 1, all at offset 0, and a coalesced ``message`` entry
becomes one ``message.delta`` carrying the whole text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import orjson

from replaydeck.testing import archive
from replaydeck.testing.normalize import DELTA_TYPE, MESSAGE_TYPE

Event = dict[str, Any]
# Called with (events just read or written, events in all), to drive a progress bar.
Progress = Callable[[int, int], None]
PAGE_SIZE = 500
_SESSION_PATH = re.compile(r"^(?P<prefix>.*?)/v1/sessions/(?P<id>[^/]+)")
_SHARE_PATH = re.compile(r"^(?P<prefix>.*?)/r/(?P<token>[^/]+)")
# The viewer page of a key holder, /sessions/{id}, reads /v1/sessions/{id}.
_VIEWER_PATH = re.compile(r"^(?P<prefix>.*?)/sessions/(?P<id>[^/]+)")


class SourceError(Exception):
    """A source that cannot be read; the message says why and what to do."""


@dataclass(frozen=True)
class Recording:
    session: dict[str, Any]
    events: list[Event] = field(default_factory=list)


def is_url(source: object) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def load_file(path: str | os.PathLike[str]) -> Recording:
    file = Path(path)
    if not file.is_file():
        raise SourceError(
            f"{file} is not a file; give an export archive, a golden file, or a session URL"
        )
    try:
        header, events = archive.read(file)
    except ValueError as e:
        raise SourceError(str(e)) from e
    if header is None and is_normal_form(events):
        events = from_golden(events)
    return Recording(session={} if header is None else header.session, events=events)


def from_golden(entries: list[Event]) -> list[Event]:
    """Envelopes that replay a golden file's normal form."""
    events: list[Event] = []
    for seq, entry in enumerate(entries, start=1):
        event = {**entry, "seq": seq, "offset_ms": 0.0}
        if entry.get("type") == MESSAGE_TYPE:
            # A message id of its own keeps two messages in a row apart when
            # the replayed events are normalized again.
            data = {**(entry.get("data") or {}), "message_id": f"golden-{seq}"}
            event.update(type=DELTA_TYPE, data=data)
        events.append(event)
    return events


def is_normal_form(events: list[Event]) -> bool:
    """True for a golden file's entries: no envelope carries a seq."""
    return bool(events) and all("seq" not in event for event in events)


@dataclass(frozen=True)
class Remote:
    """The URLs behind a session link, a viewer link or a share link."""

    session_url: str
    events_url: str

    @classmethod
    def parse(cls, url: str) -> Remote:
        parts = urlsplit(url)

        def absolute(path: str) -> str:
            return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

        api = _SESSION_PATH.match(parts.path)
        if api is not None:
            root = absolute(f"{api.group('prefix')}/v1/sessions/{api.group('id')}")
            return cls(session_url=root, events_url=f"{root}/events")
        share = _SHARE_PATH.match(parts.path)
        if share is not None:
            # A share link's API sits under the link itself (see app/replaydeck/web/viewer.py).
            root = absolute(f"{share.group('prefix')}/r/{share.group('token')}")
            return cls(session_url=f"{root}/session", events_url=f"{root}/events")
        viewer = _VIEWER_PATH.match(parts.path)
        if viewer is not None:
            root = absolute(f"{viewer.group('prefix')}/v1/sessions/{viewer.group('id')}")
            return cls(session_url=root, events_url=f"{root}/events")
        raise SourceError(
            f"{url} is not a session URL; use http://host/v1/sessions/ID or a share link "
            "http://host/r/TOKEN"
        )


def session_url(base_url: str, session_id: str) -> str:
    return f"{base_url.rstrip('/')}/v1/sessions/{quote(session_id, safe='')}"


async def load_url(
    url: str, client: httpx.AsyncClient, *, progress: Progress | None = None
) -> Recording:
    """A session's record and all its events, read page by page from a server."""
    remote = Remote.parse(url)
    session = await get_json(client, remote.session_url)
    total = int(session.get("event_count") or session.get("last_seq") or 0)
    events: list[Event] = []
    after = 0
    while True:
        page = await get_json(
            client, remote.events_url, params={"after": after, "limit": PAGE_SIZE}
        )
        batch = page.get("events") or []
        events.extend(batch)
        if progress is not None and batch:
            progress(len(batch), max(total, len(events)))
        next_after = page.get("next_after")
        if not batch or next_after is None:
            return Recording(session=session, events=events)
        after = int(next_after)


async def get_json(
    client: httpx.AsyncClient, url: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    try:
        response = await client.get(url, params=params, headers={"Accept": "application/json"})
    except httpx.HTTPError as e:
        raise SourceError(f"cannot reach {url} ({e}); is the server running?") from e
    if response.status_code >= 400:
        raise SourceError(f"{url} answered {response.status_code}: {detail(response)}")
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as e:
        raise SourceError(f"{url} did not answer JSON; is it a replaydeck server?") from e
    if not isinstance(body, dict):
        raise SourceError(f"{url} answered JSON that is not an object")
    return body


def detail(response: httpx.Response) -> str:
    """The server's own sentence for a refusal, plus a hint when it wants a key."""
    try:
        body = response.json()
    except ValueError:
        text = response.text[:200] or response.reason_phrase
    else:
        text = (
            str(body.get("detail") or body.get("title") or body)
            if isinstance(body, dict)
            else (str(body)[:200])
        )
    if response.status_code in (401, 403):
        text += " (pass an API key with --api-key or REPLAYDECK_API_KEY)"
    return text


def api_client(api_key: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(headers=headers, timeout=30.0, **kwargs)
