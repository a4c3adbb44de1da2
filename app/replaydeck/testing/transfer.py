"""Whole sessions in and out: the local database or a server, to and from archives.

Imports go through the ingest service (locally) or the append API (remotely) with
each event's original `id` and `ts`, so the imported session keeps its offsets,
and importing the same archive twice appends nothing the second time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from replaydeck.testing.sources import (
    Progress,
    Recording,
    SourceError,
    detail,
    get_json,
    session_url,
)

if TYPE_CHECKING:
    from replaydeck.config import Settings

PRODUCER_FIELDS = ("type", "data", "id", "ts")
BATCH_SIZE = 500


@dataclass(frozen=True)
class Imported:
    session_id: str
    total: int
    # None when the server would not say (an ingest key cannot read what was there).
    appended: int | None


def producer_event(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """What a producer sent: the stored envelope without what the store added."""
    return {key: envelope[key] for key in PRODUCER_FIELDS if key in envelope}


async def read_local(
    settings: Settings, session_id: str, *, progress: Progress | None = None
) -> Recording:
    # The database needs the server's packages; reading from a server does not.
    from replaydeck.errors import SessionNotFound
    from replaydeck.ingest.local import local_ingest
    from replaydeck.sessions.models import SessionOut
    from replaydeck.share.masking import mask_credentials

    async with local_ingest(settings) as ingest:
        try:
            record = await ingest.store.get_session(session_id)
        except SessionNotFound as e:
            raise SourceError(
                f"no session {session_id!r} in {mask_credentials(settings.database_url)}; "
                "check the id, set REPLAYDECK_DATABASE_URL, or pass --url to read from a server"
            ) from e
        events: list[dict[str, Any]] = []
        while True:
            after = events[-1]["seq"] if events else 0
            page = await ingest.store.read(session_id, after=after, limit=settings.read_page_size)
            events.extend(event.as_dict() for event in page)
            if progress is not None and page:
                progress(len(page), record.last_seq)
            if len(page) < settings.read_page_size:
                break
        return Recording(session=SessionOut.of(record).model_dump(mode="json"), events=events)


def _target_id(recording: Recording, session_id: str | None) -> str:
    target = session_id or recording.session.get("id")
    if not isinstance(target, str) or not target:
        raise SourceError("the archive names no session; pass --session-id to choose one")
    return target


def _batches(recording: Recording, size: int) -> list[list[dict[str, Any]]]:
    events = [producer_event(e) for e in recording.events]
    return [events[i : i + size] for i in range(0, len(events), size)]


async def import_local(
    settings: Settings,
    recording: Recording,
    *,
    session_id: str | None = None,
    progress: Progress | None = None,
) -> Imported:
    from replaydeck.errors import SessionExists
    from replaydeck.ingest.local import local_ingest
    from replaydeck.sessions.metadata import check_metadata
    from replaydeck.sessions.models import check_session_id

    target = check_session_id(_target_id(recording, session_id))
    metadata = recording.session.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    # What POST /v1/sessions checks and redacts, the server's import path.
    check_metadata(metadata, max_bytes=settings.max_metadata_bytes)
    appended = 0
    async with local_ingest(settings) as ingest:
        # Refused if it looks like a secret, as the server's POST /v1/sessions would.
        ingest.check_session_id(target)
        # An existing session is a second import: the events' ids make it append nothing.
        with contextlib.suppress(SessionExists):
            await ingest.store.create_session(target, metadata=ingest.redact_metadata(metadata))
        for batch in _batches(recording, min(BATCH_SIZE, settings.max_batch_events)):
            result = await ingest.append_raw(target, batch)
            appended += len(result.appended)
            if progress is not None:
                progress(len(batch), len(recording.events))
    return Imported(target, len(recording.events), appended)


async def import_remote(
    client: httpx.AsyncClient,
    base_url: str,
    recording: Recording,
    *,
    session_id: str | None = None,
    progress: Progress | None = None,
) -> Imported:
    target = _target_id(recording, session_id)
    url = session_url(base_url, target)
    metadata = recording.session.get("metadata")
    created = await _post(
        client,
        f"{base_url.rstrip('/')}/v1/sessions",
        {"id": target, "metadata": metadata if isinstance(metadata, dict) else {}},
        accept=(409,),  # it exists: a second import, which appends nothing new
    )
    # An ingest key may create and append but not read: what an existing session
    # already had is asked only of a key that may read, and is never required.
    last_seq: int | None = 0 if created else await _last_seq(client, url)
    appended = 0
    for batch in _batches(recording, BATCH_SIZE):
        body = await _post(client, f"{url}/events", batch)
        if last_seq is not None:
            # A repeated id gets its original seq back; only seqs past the old end are new.
            appended += sum(1 for seq in body.get("seqs") or [] if seq > last_seq)
            last_seq = int(body.get("last_seq") or last_seq)
        if progress is not None:
            progress(len(batch), len(recording.events))
    return Imported(target, len(recording.events), None if last_seq is None else appended)


async def _last_seq(client: httpx.AsyncClient, url: str) -> int | None:
    try:
        return int((await get_json(client, url)).get("last_seq") or 0)
    except SourceError:
        return None


async def _post(
    client: httpx.AsyncClient, url: str, body: Any, *, accept: tuple[int, ...] = ()
) -> dict[str, Any]:
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as e:
        raise SourceError(f"cannot reach {url} ({e}); is the server running?") from e
    if response.status_code in accept:
        return {}
    if response.status_code >= 400:
        raise SourceError(f"{url} answered {response.status_code}: {detail(response)}")
    result = response.json()
    return result if isinstance(result, dict) else {}
