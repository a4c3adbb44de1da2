"""The one place where errors become HTTP: application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from replaydeck.errors import ReplaydeckError
from replaydeck.web import openapi_problems
from replaydeck.web.logs import HEAD

log = logging.getLogger("replaydeck")

PROBLEM = "application/problem+json"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    *,
    headers: dict[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:replaydeck:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    # An error's own fields add to the RFC 9457 members and never replace them:
    # a client tells problems apart by `type`, and /r/ routes mask `instance`.
    # (A mapping, not keywords, so a field named like a parameter cannot clash.)
    body.update((name, value) for name, value in (extra or {}).items() if name not in body)
    if status == 503:
        headers = {"Retry-After": "2", **(headers or {})}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


def describe_validation(error: RequestValidationError) -> str:
    first = error.errors()[0]
    where = [str(part) for part in first.get("loc", ())]
    place = where[0] if where else "request"
    name = ".".join(where[1:]) or place
    message = str(first.get("msg", "is not valid"))
    return f"The {place} parameter {name!r} is not valid: {message[0].lower()}{message[1:]}."


_HTTP_DETAIL = {
    # FastAPI's answer to a JSON body that json.loads could not even finish.
    400: "The request body could not be read as JSON: it is not UTF-8, nests too deeply, "
    'or holds a number with too many digits. Send a JSON object such as {"id": "chat-1"}.',
    404: "There is nothing at this path. The API lives under /v1; see /docs for every route.",
}


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route accepts at the request's path; HEAD wherever GET is."""
    allowed = {
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in app.routes)
    }
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def install(app: FastAPI) -> None:
    openapi_problems.install(app)

    @app.exception_handler(ReplaydeckError)
    async def _domain(request: Request, error: ReplaydeckError) -> Response:
        return problem(
            error.status,
            error.slug,
            error.title,
            error.detail,
            request.url.path,
            headers=error.headers,
            extra=error.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        return problem(
            422,
            "invalid-parameter",
            "A parameter is not valid",
            describe_validation(error),
            request.url.path,
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> Response:
        detail = _HTTP_DETAIL.get(error.status_code, str(error.detail))
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # RFC 9110 requires Allow on a 405. Starlette names only the methods of
            # the first route on the path; a path may have several (GET and DELETE).
            allowed = ", ".join(allowed_methods(app, request.scope))
            method = "HEAD" if request.scope.get(HEAD) else request.method
            headers["Allow"] = allowed
            detail = f"{method} is not accepted here; this path accepts {allowed}."
        return problem(
            error.status_code,
            f"http-{error.status_code}",
            str(error.detail),
            detail,
            request.url.path,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "internal",
            "Internal error",
            "replaydeck failed unexpectedly; this is a bug. The server log has the details.",
            request.url.path,
        )
