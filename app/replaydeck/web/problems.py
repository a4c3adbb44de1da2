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
from replaydeck.web.head import method_of

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


BUG_DETAIL = "replaydeck failed unexpectedly; this is a bug. The server log has the details."


def domain_problem(error: ReplaydeckError, instance: str) -> Response:
    return problem(
        error.status,
        error.slug,
        error.title,
        error.detail,
        instance,
        headers=error.headers,
        extra=error.extra,
    )


def known_problem(error: Exception, instance: str) -> Response | None:
    """The answer to an error the API expects (bad input, a missing session, an
    outage); None for anything else, which is a bug."""
    if isinstance(error, ReplaydeckError):
        return domain_problem(error, instance)
    if isinstance(error, RequestValidationError):
        return problem(
            422,
            "invalid-parameter",
            "A parameter is not valid",
            describe_validation(error),
            instance,
        )
    if isinstance(error, HTTPException):
        return problem(
            error.status_code,
            f"http-{error.status_code}",
            str(error.detail),
            _HTTP_DETAIL.get(error.status_code, str(error.detail)),
            instance,
            headers=dict(error.headers or {}),
        )
    return None


def bug_problem(instance: str) -> Response:
    return problem(500, "internal", "Internal error", BUG_DETAIL, instance)


def install(app: FastAPI) -> None:
    """The app's exception handlers: every route's errors, through `known_problem`."""
    openapi_problems.install(app)

    async def known(request: Request, error: Exception) -> Response:
        response = known_problem(error, request.url.path)
        assert response is not None
        return response

    async def not_allowed(request: Request, error: Exception) -> Response:
        # RFC 9110 requires Allow on a 405. Starlette names only the methods of
        # the first route on the path; a path may have several (GET and DELETE).
        allowed = ", ".join(allowed_methods(app, request.scope))
        return problem(
            405,
            "http-405",
            "Method Not Allowed",
            f"{method_of(request.scope)} is not accepted here; this path accepts {allowed}.",
            request.url.path,
            headers={"Allow": allowed},
        )

    async def bug(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return bug_problem(request.url.path)

    for kind in (ReplaydeckError, RequestValidationError, HTTPException):
        app.add_exception_handler(kind, known)
    app.add_exception_handler(405, not_allowed)
    app.add_exception_handler(Exception, bug)
