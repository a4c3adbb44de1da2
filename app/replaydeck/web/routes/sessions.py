"""Session CRUD and log reads: thin shells over the store."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from replaydeck.ingest.body import json_body_declared
from replaydeck.sessions.metadata import check_metadata, parse_metadata_filters
from replaydeck.sessions.models import (
    EventPage,
    PositiveInt,
    SessionCreate,
    SessionIdPath,
    SessionList,
    SessionOut,
    check_session_id,
)
from replaydeck.sessions.service import error_counts, ndjson_lines, new_session_id, page_body
from replaydeck.sse import NdjsonStreamResponse
from replaydeck.store.sql import CURSOR
from replaydeck.web.deps import IngestDep, SettingsDep, StoreDep, StreamClientDep, StreamsDep
from replaydeck.web.params import EventsQuery

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

NDJSON = "application/x-ndjson"


def _link(path: str, method: str, session_id: str) -> dict[str, Any]:
    """An OpenAPI link to the operation at `path`, given its session_id."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method}", "parameters": {"session_id": session_id}}


_ONE = "/v1/sessions/{session_id}"
# Where a new session's id leads; clients (and API tools) follow these links.
# (An append needs no session made first: it creates an unknown one itself.)
_CREATED_LINKS = {
    "get": _link(_ONE, "get", "$response.body#/id"),
    "delete": _link(_ONE, "delete", "$response.body#/id"),
    "events": _link(f"{_ONE}/events", "get", "$response.body#/id"),
    "trace": _link(f"{_ONE}/trace", "get", "$response.body#/id"),
    "share": _link(f"{_ONE}/shares", "post", "$response.body#/id"),
}


@router.post(
    "",
    status_code=201,
    response_model=SessionOut,
    responses={201: {"links": _CREATED_LINKS}},
    dependencies=[Depends(json_body_declared)],
)
async def create_session(
    body: SessionCreate,
    store: StoreDep,
    ingest: IngestDep,
    settings: SettingsDep,
    response: Response,
) -> SessionOut:
    session_id = check_session_id(body.id) if body.id is not None else new_session_id()
    check_metadata(body.metadata, max_bytes=settings.max_metadata_bytes)
    ingest.check_session_id(session_id)
    record = await store.create_session(session_id, metadata=ingest.redact_metadata(body.metadata))
    response.headers["Location"] = f"/v1/sessions/{record.id}"
    return SessionOut.of(record, jaeger_url_base=settings.jaeger_url)


@router.get("", response_model=SessionList)
async def list_sessions(
    store: StoreDep,
    settings: SettingsDep,
    status: Literal["open", "complete"] | None = None,
    metadata: Annotated[
        list[str],
        Query(
            description="key=value; repeat to combine",
            json_schema_extra={"items": {"type": "string", "pattern": "^[^=\\x00]+=[^\\x00]*$"}},
        ),
    ] = [],  # noqa: B006
    cursor: Annotated[
        str | None,
        Query(
            description="The previous page's next_cursor.",
            json_schema_extra={"pattern": CURSOR.pattern},
        ),
    ] = None,
    limit: Annotated[PositiveInt, Query()] = 50,
) -> SessionList:
    page = await store.list_sessions(
        status=status,
        metadata=parse_metadata_filters(metadata),
        cursor=cursor,
        limit=min(limit, settings.max_list_limit),
    )
    errors = await error_counts(store, page.sessions)
    return SessionList(
        sessions=[
            SessionOut.of(
                record,
                jaeger_url_base=settings.jaeger_url,
                error_count=errors.get(record.id, 0),
            )
            for record in page.sessions
        ],
        next_cursor=page.next_cursor,
    )


@router.get("/{session_id}", response_model=SessionOut)
async def get_session(
    session_id: SessionIdPath, store: StoreDep, settings: SettingsDep
) -> SessionOut:
    record = await store.get_session(check_session_id(session_id))
    errors = await error_counts(store, [record])
    return SessionOut.of(
        record, jaeger_url_base=settings.jaeger_url, error_count=errors.get(record.id, 0)
    )


@router.delete("/{session_id}", status_code=204)
async def delete_session(session_id: SessionIdPath, store: StoreDep, request: Request) -> Response:
    await store.delete_session(check_session_id(session_id))
    request.app.state.hub.remove(session_id)
    return Response(status_code=204)


@router.get(
    "/{session_id}/events",
    response_model=EventPage,
    responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}}}},
)
async def read_events(
    session_id: SessionIdPath,
    store: StoreDep,
    settings: SettingsDep,
    streams: StreamsDep,
    client: StreamClientDep,
    query: Annotated[EventsQuery, Query()],
    accept: Annotated[str, Header()] = "application/json",
) -> Response:
    after, limit = query.after, query.limit
    await store.get_session(check_session_id(session_id))
    if NDJSON in accept:
        # A download may take long and its reader may stall: it is a stream like
        # the others (bounded writes, the send timeout, a slot of the client's).
        lease = client.admit()
        lines = ndjson_lines(
            store,
            session_id,
            after=after,
            limit=limit,
            page_size=settings.read_page_size,
            largest_event=settings.max_event_bytes,
        )
        return NdjsonStreamResponse(
            lines, counter=streams, send_timeout=settings.send_timeout, lease=lease
        )
    size = min(limit or 100, settings.max_list_limit)
    events = await store.read(session_id, after=after, limit=size)
    return Response(page_body(events, size), media_type="application/json")
