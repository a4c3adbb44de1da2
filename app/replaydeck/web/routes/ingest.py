"""POST /v1/sessions/{id}/events: one event, a JSON array, or NDJSON."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from replaydeck.events import producer_event_schema
from replaydeck.ingest.body import check_declared_length, read_events
from replaydeck.sessions.models import (
    AppendOut,
    SeqHeader,
    SessionIdPath,
    check_session_id,
)
from replaydeck.web.deps import IngestDep

router = APIRouter(prefix="/v1/sessions", tags=["ingest"])

_EVENT_SCHEMA = producer_event_schema()
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _EVENT_SCHEMA,
                        {"type": "array", "items": _EVENT_SCHEMA, "minItems": 1},
                    ]
                },
                "example": {"type": "status", "data": {"label": "thinking"}},
            },
            "application/x-ndjson": {
                "schema": {
                    "type": "string",
                    "description": "One event per line, each as in application/json.",
                }
            },
        },
    }
}


@router.post("/{session_id}/events", response_model=AppendOut, openapi_extra=_BODY_DOC)
async def append_events(
    session_id: SessionIdPath,
    request: Request,
    ingest: IngestDep,
    if_match: Annotated[
        SeqHeader,
        Header(alias="If-Match", description="Append only if the session ends at this seq."),
    ] = None,
) -> Response:
    settings = ingest.settings  # one dependency fewer to solve on the hottest route
    check_session_id(session_id)
    check_declared_length(request.headers.get("content-length"), settings.max_request_bytes)
    events = await read_events(
        request.headers.get("content-type", ""),
        request.stream(),
        validate=ingest.validate,
        max_request_bytes=settings.max_request_bytes,
        max_events=settings.max_batch_events,
    )
    result = await ingest.append(session_id, events, expected_seq=if_match)
    # The hottest route: the body is written directly instead of being validated
    # against AppendOut and encoded by FastAPI; AppendOut still documents it.
    return Response(
        orjson.dumps({"seqs": result.seqs, "last_seq": result.last_seq}),
        media_type="application/json",
    )
