"""The API key check, in front of every route (replaydeck.auth.access says which scope).

A middleware rather than an app-wide FastAPI dependency, so that it covers
every route however it is declared, and costs the hottest route (one append
per event) no dependency solving.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from replaydeck.auth.access import check_key, required_scope
from replaydeck.auth.keys import ApiKey
from replaydeck.errors import ReplaydeckError
from replaydeck.web.head import method_of
from replaydeck.web.problems import domain_problem

# Scope key of the caller's checked key, for the per-key stream limit.
API_KEY = "replaydeck.api_key"
_AUTHORIZATION = b"authorization"
_API_KEY = b"x-api-key"


def api_key_of(scope: Scope) -> ApiKey | None:
    """The key a request was authorized with; None for an open API or a public route."""
    key: ApiKey | None = scope.get(API_KEY)
    return key


class KeyCheck:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or required_scope(scope["method"], scope["path"]) is None:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        headers = scope["headers"]
        authorization = next((v.decode("latin-1") for k, v in headers if k == _AUTHORIZATION), None)
        api_key = next((v.decode("latin-1") for k, v in headers if k == _API_KEY), None)
        try:
            key = await check_key(
                state.keys, state.settings, method_of(scope), scope["path"], authorization, api_key
            )
        except ReplaydeckError as error:
            await domain_problem(error, scope["path"])(scope, receive, send)
            return
        scope[API_KEY] = key
        await self.app(scope, receive, send)
