"""API key check for every /v1 and /langsmith request, by scope.

`check_key` runs for every request, in a middleware in front of all routes
(replaydeck.web.access), and the scope a request needs is derived from its
method and path here rather than declared on each route: a /v1 route added
later is covered without anyone remembering to add a check, and a write
nobody listed needs admin (fail closed).
"""

from __future__ import annotations

import re

from replaydeck.auth.keys import ApiKey, KeyStore, Scope, allows
from replaydeck.config import Settings
from replaydeck.errors import ReplaydeckError

# Writes that ingest keys may do: POST /v1/sessions, POST
# /v1/sessions/{session_id}/events (a path or its template) and POST
# /v1/traces/ingest (the OpenAI Agents SDK's exporter). Every other non-GET /v1
# request needs admin.
_INGEST_PATHS = re.compile(r"/v1/sessions(?:/[^/]+/events)?|/v1/traces/ingest")
# The LangSmith SDKs' endpoints (replaydeck.web.routes.langsmith): all of it is
# ingest, the SDK's /info handshake included, and the key comes as `x-api-key`.
LANGSMITH = "/langsmith"
READ_METHODS = frozenset({"GET", "HEAD"})


class Unauthorized(ReplaydeckError):
    status = 401
    slug = "unauthorized"
    title = "An API key is required"
    headers = {"WWW-Authenticate": 'Bearer realm="replaydeck"'}


class Forbidden(ReplaydeckError):
    status = 403
    slug = "forbidden"
    title = "The API key's scope does not allow this"


def required_scope(method: str, path: str) -> Scope | None:
    """The scope a request needs, from its method and path; None outside /v1."""
    if path == LANGSMITH or path.startswith(LANGSMITH + "/"):
        return Scope.INGEST
    if path != "/v1" and not path.startswith("/v1/"):
        return None
    if method == "POST" and _INGEST_PATHS.fullmatch(path):
        return Scope.INGEST
    return Scope.READ if method in READ_METHODS else Scope.ADMIN


def bearer_token(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def open_mode_allowed(settings: Settings) -> bool:
    # Mirrors the start-up check: without keys, only a loopback bind (or an
    # explicit --insecure) may serve an open API. Checked per request too, so
    # revoking the last key on a public bind closes the API instead of opening it.
    return settings.is_loopback or settings.insecure


async def api_is_open(keys: KeyStore, settings: Settings) -> bool:
    """Whether /v1 serves requests without a key: never once a key has existed,
    unless the operator re-opened it (REPLAYDECK_OPEN_WITHOUT_KEYS)."""
    return open_mode_allowed(settings) and not await keys.requires_keys(
        reopen=settings.open_without_keys
    )


async def check_key(
    keys: KeyStore,
    settings: Settings,
    method: str,
    path: str,
    authorization: str | None,
    api_key: str | None = None,
) -> ApiKey | None:
    """The caller's key for a /v1 request (None when the API is open, or outside
    /v1); Unauthorized or Forbidden otherwise. `api_key` is an `x-api-key` header,
    which /langsmith takes as the SDKs send it."""
    needed = required_scope(method, path)
    if needed is None:
        return None
    langsmith = not path.startswith("/v1")
    presented = bearer_token(authorization)
    if presented is None and langsmith and api_key:
        presented = api_key.strip()
    if presented is not None:
        key = await keys.authenticate(presented)
        if key is not None:
            if not allows(key.scope, needed):
                raise Forbidden(
                    f"This API key ({key.id}) has the {key.scope} scope; {method} "
                    f"{path} needs {needed}"
                    + ("" if needed is Scope.ADMIN else " or admin")
                    + f". Use a key made with `replaydeck keys create --scope {needed}`.",
                    key_id=key.id,
                    needed_scope=needed.value,
                )
            return key
    if await api_is_open(keys, settings):
        return None
    if presented is None:
        send = (
            "set LANGSMITH_API_KEY to it (the SDK sends it as x-api-key)"
            if langsmith
            else "send 'Authorization: Bearer <key>'"
        )
        raise Unauthorized(
            f"{method} {path} needs an API key with the {needed} scope: {send}. Create "
            f"one with `replaydeck keys create --scope {needed}`.",
            needed_scope=needed.value,
        )
    raise Unauthorized(
        f"The API key sent in the {'x-api-key' if langsmith else 'Authorization'} header "
        "is not known or was revoked; "
        "check it, or create a new one with `replaydeck keys create`.",
        needed_scope=needed.value,
    )
