"""GET /v1/sessions/{id}/stream: the live tail as SSE."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from replaydeck.live.idle import Quiet, last_activity_us
from replaydeck.live.tail import tail_frames
from replaydeck.sessions.models import SessionIdPath, check_session_id
from replaydeck.sse import EventStreamResponse
from replaydeck.web.deps import HubDep, SettingsDep, StoreDep, StreamClientDep, StreamsDep
from replaydeck.web.params import LastEventId, StreamQuery

router = APIRouter(prefix="/v1/sessions", tags=["streams"])

SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "description": "Server-Sent Events; each frame's id is the event's seq.",
    },
    204: {
        "description": "The session has ended (or was abandoned) and nothing follows Last-Event-ID."
    },
    429: {"description": "This client already holds as many open streams as it may."},
}


@router.get("/{session_id}/stream", response_class=Response, responses=SSE_DOC)
async def stream(
    session_id: SessionIdPath,
    store: StoreDep,
    hub: HubDep,
    settings: SettingsDep,
    streams: StreamsDep,
    client: StreamClientDep,
    query: Annotated[StreamQuery, Query()],
    last_event_id: LastEventId = None,
) -> Response:
    check_session_id(session_id)
    cursor = last_event_id if last_event_id is not None else query.after
    session = await store.get_session(session_id)
    # Followed while the session is live: an abandoned one ends its tails too.
    quiet = Quiet(
        settings.trace_idle_timeout, last_activity_us(session, hub.last_moved(session_id))
    )
    ended = session.status == "complete" or quiet.abandoned()
    if ended and cursor >= session.last_seq:
        # Tells a browser's EventSource to stop reconnecting.
        return Response(status_code=204)
    lease = client.admit()
    frames = tail_frames(
        store,
        hub,
        session_id,
        after=cursor,
        page_size=settings.read_page_size,
        largest_event=settings.max_event_bytes,
        quiet=quiet,
    )
    return EventStreamResponse(
        frames,
        kind="tail",
        counter=streams,
        retry_ms=settings.sse_retry_ms,
        send_timeout=settings.send_timeout,
        lease=lease,
    )
