"""POST /v1/sessions/{id}/events: one event, a JSON array, or NDJSON."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from replaydeck.events import producer_event_schema
from replaydeck.ingest.body import check_declared_length, read_events
from replaydeck.ingest.service import Ingest
from replaydeck.sessions.models import (
    AppendOut,
    check_session_id,
)
from replaydeck.web.params import AppendParams

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


@router.post(
    "/{session_id}/events",
    response_model=AppendOut,
    openapi_extra={**_BODY_DOC, "parameters": AppendParams.openapi()},
)
async def append_events(request: Request) -> Response:
    # The hottest route, one call per event: it takes only the request, and
    # reads its own parameters (AppendParams, which also documents them) and
    # service, so FastAPI has no dependency to solve; that was a third of an
    # append's time on the event loop.
    params = AppendParams.read(request)
    session_id = check_session_id(params.session_id)
    ingest: Ingest = request.app.state.ingest
    settings = ingest.settings
    check_declared_length(request.headers.get("content-length"), settings.max_request_bytes)
    events = await read_events(
        request.headers.get("content-type", ""),
        request.stream(),
        validate=ingest.validate,
        max_request_bytes=settings.max_request_bytes,
        max_events=settings.max_batch_events,
    )
    result = await ingest.append(session_id, events, expected_seq=params.if_match)
    # The body is written directly instead of being validated against AppendOut
    # and encoded by FastAPI; AppendOut still documents it.
    return Response(
        orjson.dumps({"seqs": result.seqs, "last_seq": result.last_seq}),
        media_type="application/json",
    )
