"""GET /v1/sessions/{id}/replay: a stored session as timed SSE."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from replaydeck.errors import InvalidParameter
from replaydeck.formats.replay import parse_format, reformat
from replaydeck.live.idle import Quiet, last_activity_us
from replaydeck.replay.resume import resume_point
from replaydeck.replay.stream import ReplayParams, already_played, replay_frames
from replaydeck.sessions.models import PLAIN_NUMBER, SessionIdPath, check_session_id
from replaydeck.sse import EventStreamResponse
from replaydeck.web.deps import ClockDep, HubDep, SettingsDep, StoreDep, StreamClientDep, StreamsDep
from replaydeck.web.params import ReplayLastEventId, ReplayQuery
from replaydeck.web.routes.live import SSE_DOC

router = APIRouter(prefix="/v1/sessions", tags=["streams"])


# Beyond these a replay is either frozen (1e-320 makes every wait infinite) or
# indistinguishable from speed=max, which says what it means.
MIN_SPEED, MAX_SPEED = 0.001, 1_000_000.0


def parse_speed(value: str) -> float | None:
    if value == "max":
        return None
    # float() alone also reads " 5", "5_0", Arabic-Indic digits and "inf".
    speed = float(value) if PLAIN_NUMBER.fullmatch(value) else float("nan")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise InvalidParameter(
            f"speed={value[:20]!r} is not valid; use a positive number from 0.001 to "
            "1000000 (1 = as recorded, 10 = ten times faster) or 'max' for no waiting."
        )
    return speed


def parse_replay(query: ReplayQuery) -> ReplayParams:
    from_seq, to_seq, types = query.from_, query.to, query.types
    if to_seq is not None and to_seq < from_seq:
        raise InvalidParameter(
            f"to={to_seq} is before from={from_seq}; give a range with from ≤ to."
        )
    wanted = None
    if types is not None:
        wanted = frozenset(t.strip() for t in types.split(",") if t.strip())
        if not wanted:
            raise InvalidParameter("types= is empty; list event types such as types=status,final.")
    return ReplayParams(
        speed=parse_speed(query.speed),
        from_seq=from_seq,
        to_seq=to_seq,
        types=wanted,
        max_gap_ms=query.max_gap_ms,
    )


@router.get("/{session_id}/replay", response_class=Response, responses=SSE_DOC)
async def replay(
    session_id: SessionIdPath,
    store: StoreDep,
    hub: HubDep,
    clock: ClockDep,
    settings: SettingsDep,
    streams: StreamsDep,
    client: StreamClientDep,
    query: Annotated[ReplayQuery, Query()],
    last_event_id: ReplayLastEventId = None,
) -> Response:
    check_session_id(session_id)
    params = parse_replay(query)
    wire_format = None if query.format is None else parse_format(query.format)
    session = await store.get_session(session_id)
    resume = await resume_point(
        store, session_id, last_event_id, wire_format, page_size=settings.read_page_size
    )
    # Follows the session while it is live; an abandoned one's replay ends as incomplete.
    quiet = Quiet(
        settings.trace_idle_timeout, last_activity_us(session, hub.last_moved(session_id))
    )
    start_seq = params.from_seq
    if resume is not None:
        end = session.last_seq if params.to_seq is None else min(params.to_seq, session.last_seq)
        ended = session.status == "complete" or quiet.abandoned() or params.to_seq == end
        if resume.after >= end and ended:
            return Response(status_code=204)
        params = ReplayParams(
            speed=params.speed,
            from_seq=max(params.from_seq, resume.after + 1),
            to_seq=params.to_seq,
            types=params.types,
            max_gap_ms=params.max_gap_ms,
        )
    lease = client.admit()
    frames = replay_frames(
        store,
        hub,
        clock,
        session_id,
        params,
        page_size=settings.read_page_size,
        heartbeat_interval=settings.heartbeat_interval,
        final_seq=session.final_seq,
        quiet=quiet,
    )
    if wire_format is not None:
        before = await already_played(store, session_id, start_seq, params)
        skip = None if resume is None else (params.from_seq, resume.skip)
        frames = reformat(frames, wire_format, session_id, before=before, resume=skip)
    return EventStreamResponse(
        frames,
        kind="replay",
        counter=streams,
        retry_ms=settings.sse_retry_ms,
        send_timeout=settings.send_timeout,
        lease=lease,
        inline=wire_format is not None,
    )
