"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from replaydeck.web.deps import StoreDep

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"description": "Database down"}})
async def readyz(store: StoreDep) -> Health:
    await store.ping()  # StoreUnavailable becomes a 503 problem
    return Health(status="ready")
