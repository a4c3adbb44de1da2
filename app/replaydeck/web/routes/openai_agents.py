"""POST /v1/traces/ingest: what the OpenAI Agents SDK's trace exporter sends.

The path is OpenAI's own, so an exporter's endpoint is replaydeck's base URL plus it.
The exporter already sends `Authorization: Bearer <key>`: an ingest key goes there
(the key check covers this path like the other ingest routes).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from replaydeck.ingest.body import check_declared_length, read_json_document
from replaydeck.ingest.traces import TraceIngest
from replaydeck.telemetry import openai_agents

router = APIRouter(prefix="/v1/traces", tags=["ingest"])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "array",
                            "items": {"type": "object"},
                            "description": "Trace objects (`object: trace`) and finished "
                            "spans (`object: trace.span`), as the SDK exports them.",
                        }
                    },
                },
            }
        },
    }
}


@router.post("/ingest", openapi_extra=_BODY_DOC)
async def ingest_agents_traces(request: Request) -> JSONResponse:
    traces: TraceIngest = request.app.state.trace_ingest
    settings = traces.ingest.settings
    check_declared_length(request.headers.get("content-length"), settings.max_request_bytes)
    payload = await read_json_document(
        request.headers.get("content-type", ""),
        request.stream(),
        max_request_bytes=settings.max_request_bytes,
    )
    result = await traces.record(openai_agents.read_export(payload))
    return JSONResponse(result.as_json())
