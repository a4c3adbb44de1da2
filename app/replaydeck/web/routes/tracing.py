"""GET /v1/sessions/{id}/trace: the session's spans as OTLP JSON."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from replaydeck.sessions.models import SessionIdPath, check_session_id
from replaydeck.tracing.document import session_document
from replaydeck.tracing.runtime import build_resource
from replaydeck.web.deps import SettingsDep, StoreDep

router = APIRouter(prefix="/v1/sessions", tags=["tracing"])

_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": 'An OTLP JSON document (`{"resourceSpans": […]}`); Jaeger UI\'s '
        "Upload JSON opens it.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.get("/{session_id}/trace", responses=_DOC, response_class=Response)
async def session_trace(
    session_id: SessionIdPath, request: Request, store: StoreDep, settings: SettingsDep
) -> Response:
    check_session_id(session_id)
    tracing: Any = getattr(request.app.state, "tracing", None)
    resource = tracing.tracer.resource if tracing is not None else build_resource({})
    document = await session_document(
        store,
        session_id,
        now_ns=time.time_ns(),
        idle_timeout_s=settings.trace_idle_timeout,
        resource=resource,
        page_size=settings.read_page_size,
    )
    return Response(
        orjson.dumps(document),
        media_type="application/json",
        headers={"Content-Disposition": f'inline; filename="trace-{session_id}.json"'},
    )
