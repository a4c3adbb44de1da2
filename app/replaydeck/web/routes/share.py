"""Share links over HTTP: create and revoke under /v1, read-only replay under /r/{token}.

The /r/ routes resolve the token to its session, then call the very route
functions that serve /v1/sessions/{id}, /events, /stream and /replay, so a share
link sees exactly what a key holder sees of that one session, and nothing else:
only GETs exist here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import HTMLResponse

from replaydeck.events import format_ts
from replaydeck.ingest.body import json_body_declared
from replaydeck.sessions.models import (
    SessionIdPath,
    SessionLinks,
    SessionOut,
    check_session_id,
)
from replaydeck.share.masking import mask_share_path
from replaydeck.share.service import (
    DEFAULT_EXPIRES_IN,
    MAX_EXPIRES_IN,
    Share,
    ShareNotFound,
    ShareService,
)
from replaydeck.web.deps import ClockDep, HubDep, OpenStreamsDep, SettingsDep, StoreDep, StreamsDep
from replaydeck.web.params import (
    EventsQuery,
    LastEventId,
    ReplayLastEventId,
    ReplayQuery,
    StreamQuery,
)
from replaydeck.web.problems import bug_problem, domain_problem, known_problem
from replaydeck.web.routes import live as live_routes
from replaydeck.web.routes import replay as replay_routes
from replaydeck.web.routes import sessions as session_routes
from replaydeck.web.streams import OpenStreams, StreamClient, share_key
from replaydeck.web.viewer import viewer_response

log = logging.getLogger("replaydeck")

# On every /r/ response, the 404s included: the URL must not leak to other
# sites through a Referer header, nor sit in a shared cache.
SHARE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}

NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Replay link not available · replaydeck</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; \
padding: 0 1rem; line-height: 1.5">
<h1>This replay link does not work</h1>
<p>It may have expired or been revoked. Ask whoever sent it for a new link.</p>
</body></html>
"""


async def _shares(request: Request) -> ShareService:
    service: ShareService = request.app.state.shares
    return service


SharesDep = Annotated[ShareService, Depends(_shares)]


def with_share_headers(response: Response) -> Response:
    # Set on the response itself: SSE responses take their headers from it too.
    for name, value in SHARE_HEADERS.items():
        response.headers[name] = value
    return response


class ShareRoute(APIRoute):
    """Route class for /r/: uniform 404s, share headers, and no token in errors or logs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await self.shape(request, handler)

        return route

    async def shape(
        self, request: Request, handler: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """The handler's response, or its error as /r/ shows errors; share headers on both."""
        instance = mask_share_path(request.url.path)
        try:
            response = await handler(request)
        except ShareNotFound as e:
            # Same status, body and headers whatever was wrong with the token.
            response = (
                HTMLResponse(NOT_FOUND_PAGE, status_code=404)
                if self.path == "/r/{token}"
                else domain_problem(e, instance)
            )
        except Exception as e:
            known = known_problem(e, instance)
            if known is None:
                # The app-wide handler would log the raw path, token included.
                log.exception("unexpected error on %s %s", request.method, instance)
                known = bug_problem(instance)
            response = known
        return with_share_headers(response)


class ShareCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in: int = Field(
        default=DEFAULT_EXPIRES_IN,
        ge=60,
        le=MAX_EXPIRES_IN,
        description="Seconds until the link stops working (60 s to 365 days; default 7 days).",
    )


class ShareOut(BaseModel):
    id: str
    session_id: str
    url: str
    expires_at: str


router = APIRouter(tags=["shares"])


_REVOKE_LINK = {
    "operationRef": "#/paths/~1v1~1shares~1{share_id}/delete",
    "parameters": {"share_id": "$response.body#/id"},
}


@router.post(
    "/v1/sessions/{session_id}/shares",
    status_code=201,
    response_model=ShareOut,
    dependencies=[Depends(json_body_declared)],
    responses={201: {"links": {"revoke": _REVOKE_LINK}}},
)
async def create_share(
    session_id: SessionIdPath,
    shares: SharesDep,
    settings: SettingsDep,
    request: Request,
    body: ShareCreate | None = None,
) -> ShareOut:
    check_session_id(session_id)
    created = await shares.create(session_id, (body or ShareCreate()).expires_in)
    base = settings.public_url or str(request.base_url)
    return ShareOut(
        id=created.share.id,
        session_id=session_id,
        url=f"{base.rstrip('/')}/r/{created.token}",
        expires_at=format_ts(created.share.expires_at_us),
    )


@router.delete("/v1/shares/{share_id}", status_code=204)
async def revoke_share(share_id: str, shares: SharesDep, open_streams: OpenStreamsDep) -> Response:
    await shares.revoke(share_id)
    # Its open streams end now (other replicas hear of it by NOTIFY).
    open_streams.stop(share_key(share_id))
    return Response(status_code=204)


public = APIRouter(route_class=ShareRoute, tags=["shares"])


def _base(request: Request, token: str) -> str:
    return f"{request.scope.get('root_path', '')}/r/{token}"


def _client(open_streams: OpenStreams, shares: ShareService, share: Share) -> StreamClient:
    """A share link's streams count against the link, and end when it expires."""
    return open_streams.share(share.id, expires_in=shares.seconds_left(share))


@public.get("/r/{token}", response_class=HTMLResponse)
async def share_page(token: str, shares: SharesDep, request: Request) -> Response:
    await shares.open(token)
    root_path = str(request.scope.get("root_path", ""))
    return viewer_response(_base(request, token), mode="share", root_path=root_path)


@public.get("/r/{token}/session", response_model=SessionOut)
async def share_session(
    token: str, shares: SharesDep, store: StoreDep, settings: SettingsDep, request: Request
) -> SessionOut:
    share = await shares.open(token)
    out = await session_routes.get_session(share.session_id, store, settings)
    base = _base(request, token)
    # The /v1 links would need a key; point at this share's own routes instead.
    links = SessionLinks(
        self=f"{base}/session",
        events=f"{base}/events",
        stream=f"{base}/stream",
        replay=f"{base}/replay",
    )
    return out.model_copy(update={"links": links})


@public.get("/r/{token}/events", response_class=Response)
async def share_events(
    token: str,
    shares: SharesDep,
    store: StoreDep,
    settings: SettingsDep,
    streams: StreamsDep,
    open_streams: OpenStreamsDep,
    query: Annotated[EventsQuery, Query()],
    accept: Annotated[str, Header()] = "application/json",
) -> Response:
    share = await shares.open(token)
    return await session_routes.read_events(
        session_id=share.session_id,
        store=store,
        settings=settings,
        streams=streams,
        client=_client(open_streams, shares, share),
        query=query,
        accept=accept,
    )


@public.get("/r/{token}/stream", response_class=Response, responses=live_routes.SSE_DOC)
async def share_stream(
    token: str,
    shares: SharesDep,
    store: StoreDep,
    hub: HubDep,
    settings: SettingsDep,
    streams: StreamsDep,
    open_streams: OpenStreamsDep,
    query: Annotated[StreamQuery, Query()],
    last_event_id: LastEventId = None,
) -> Response:
    share = await shares.open(token)
    return await live_routes.stream(
        session_id=share.session_id,
        store=store,
        hub=hub,
        settings=settings,
        streams=streams,
        client=_client(open_streams, shares, share),
        query=query,
        last_event_id=last_event_id,
    )


@public.get("/r/{token}/replay", response_class=Response, responses=live_routes.SSE_DOC)
async def share_replay(
    token: str,
    shares: SharesDep,
    store: StoreDep,
    hub: HubDep,
    clock: ClockDep,
    settings: SettingsDep,
    streams: StreamsDep,
    open_streams: OpenStreamsDep,
    query: Annotated[ReplayQuery, Query()],
    last_event_id: ReplayLastEventId = None,
) -> Response:
    share = await shares.open(token)
    return await replay_routes.replay(
        session_id=share.session_id,
        store=store,
        hub=hub,
        clock=clock,
        settings=settings,
        streams=streams,
        client=_client(open_streams, shares, share),
        query=query,
        last_event_id=last_event_id,
    )
