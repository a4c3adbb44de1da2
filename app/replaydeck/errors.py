"""Domain errors. Services raise these; replaydeck.web.problems turns them into problem+json."""

from __future__ import annotations

from typing import Any


class ReplaydeckError(Exception):
    """A refusal a client can act on. `detail` is a sentence for a person."""

    status = 400
    slug = "bad-request"
    title = "Bad request"
    # Extra response headers, e.g. WWW-Authenticate on a 401.
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidRequest(ReplaydeckError):
    status = 400
    slug = "invalid-request"
    title = "The request could not be read"


class InvalidEvent(ReplaydeckError):
    status = 422
    slug = "invalid-event"
    title = "An event is not valid"


class InvalidParameter(ReplaydeckError):
    status = 422
    slug = "invalid-parameter"
    title = "A parameter is not valid"


class UntrustedHost(ReplaydeckError):
    status = 400
    slug = "untrusted-host"
    title = "The Host header does not name this server"


class CrossOriginWrite(ReplaydeckError):
    status = 403
    slug = "cross-origin-write"
    title = "A page on another origin may not write here"


class PayloadTooLarge(ReplaydeckError):
    status = 413
    slug = "payload-too-large"
    title = "The request is too large"


class UnsupportedMediaType(ReplaydeckError):
    status = 415
    slug = "unsupported-media-type"
    title = "The request body's type is not supported"


class SessionNotFound(ReplaydeckError):
    status = 404
    slug = "session-not-found"
    title = "No such session"

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"There is no session {session_id!r}. Create it with POST /v1/sessions "
            "or by appending its first event.",
            session_id=session_id,
        )


class SessionExists(ReplaydeckError):
    status = 409
    slug = "session-exists"
    title = "The session already exists"

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"A session {session_id!r} already exists. Pick another id, or omit it "
            "to let replaydeck choose one.",
            session_id=session_id,
        )


class SessionClosed(ReplaydeckError):
    status = 409
    slug = "session-closed"
    title = "The session has ended"

    def __init__(self, session_id: str, final_seq: int) -> None:
        super().__init__(
            f"Session {session_id!r} ended with its final event at seq {final_seq}; "
            "nothing can be appended after final. Start a new session instead.",
            session_id=session_id,
            final_seq=final_seq,
        )


class SeqConflict(ReplaydeckError):
    status = 409
    slug = "seq-conflict"
    title = "The session moved on"

    def __init__(self, session_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"The append expected session {session_id!r} to end at seq {expected}, "
            f"but it ends at seq {actual}. Read the new events and retry.",
            session_id=session_id,
            expected_seq=expected,
            last_seq=actual,
        )


class TooManyStreams(ReplaydeckError):
    status = 429
    slug = "too-many-streams"
    title = "Too many open streams"

    def __init__(self, client: str, limit: int, retry_after: int) -> None:
        super().__init__(
            f"{client} already has {limit} open streams, the most one client may hold "
            "(REPLAYDECK_MAX_STREAMS_PER_CLIENT). Close one (a stream ends when its "
            f"client disconnects), or retry after {retry_after} s.",
            limit=limit,
        )
        self.headers = {"Retry-After": str(retry_after)}


class StoreUnavailable(ReplaydeckError):
    status = 503
    slug = "store-unavailable"
    title = "The database is unavailable"

    def __init__(
        self,
        detail: str = "The database cannot be reached right now; "
        "nothing was stored. Retry in a few seconds.",
    ) -> None:
        super().__init__(detail)


class StreamError(ReplaydeckError):
    """A Durable Streams refusal; `headers` carry what the protocol says with it
    (Stream-Closed, Stream-Next-Offset, Producer-* …)."""

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.headers = headers


class StreamBadRequest(StreamError):
    status = 400
    slug = "stream-bad-request"
    title = "The Durable Streams request is not valid"


class StreamNotFound(StreamError):
    status = 404
    slug = "stream-not-found"
    title = "No such stream"


class StreamConflict(StreamError):
    status = 409
    slug = "stream-conflict"
    title = "The stream's state does not allow this"


class StreamGone(StreamError):
    status = 410
    slug = "stream-gone"
    title = "The stream was deleted"


class StaleProducerEpoch(StreamError):
    status = 403
    slug = "stale-producer-epoch"
    title = "A newer epoch of this producer has written"
