"""/langsmith: what the LangSmith SDKs send, so LangChain and LangGraph apps record
here with LANGSMITH_ENDPOINT={base}/langsmith (replaydeck.ingest.langsmith)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from replaydeck.ingest.body import check_declared_length, read_limited
from replaydeck.ingest.langsmith import ingest_body, server_info
from replaydeck.ingest.service import Ingest
from replaydeck.web.deps import SettingsDep

# Not in /openapi.json: these speak the LangSmith SDKs' wire format, whose rules
# (pieces of one run across parts, ids, times) JSON Schema cannot state well enough
# for schema-driven clients and fuzzers; README documents them, tests/telemetry
# proves them with the SDKs themselves.
router = APIRouter(prefix="/langsmith", tags=["langsmith"], include_in_schema=False)


@router.get("/info")
async def info(settings: SettingsDep) -> dict[str, Any]:
    """The SDKs' handshake: multipart, compressed, in batches this server accepts."""
    return server_info(settings.max_request_bytes)


async def _ingest(
    request: Request, section: str | None = None, run_id: str | None = None
) -> JSONResponse:
    ingest: Ingest = request.app.state.ingest
    limit = ingest.settings.max_request_bytes
    headers = request.headers
    check_declared_length(headers.get("content-length"), limit)
    body = await read_limited(request.stream(), limit)
    report = await ingest_body(
        ingest,
        request.app.state.langsmith_arrivals,
        body,
        content_type=headers.get("content-type", ""),
        encoding=headers.get("content-encoding"),
        section=section,
        run_id=run_id,
    )
    return JSONResponse(report, status_code=202)


@router.post("/runs/multipart", status_code=202)
async def runs_multipart(request: Request) -> JSONResponse:
    """Run pieces as multipart parts (`post.<id>`, `patch.<id>.outputs` …)."""
    return await _ingest(request)


@router.post("/runs/batch", status_code=202)
async def runs_batch(request: Request) -> JSONResponse:
    """`{"post": [runs started], "patch": [runs ended]}`."""
    return await _ingest(request)


@router.post("/runs", status_code=202)
async def create_run(request: Request) -> JSONResponse:
    """One run started (the SDK without its background batching)."""
    return await _ingest(request, "post")


# The SDKs make run ids as UUIDs; the convertor keeps /runs/batch from being a run.
@router.patch("/runs/{run_id:uuid}", status_code=202)
async def update_run(run_id: UUID, request: Request) -> JSONResponse:
    """One run ended."""
    return await _ingest(request, "patch", str(run_id))
