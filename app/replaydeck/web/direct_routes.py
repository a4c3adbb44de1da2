"""The SSE routes and the append route, served in front of the framework's stack.

A live tail may stay open for hours, and every coroutine frame on its stack
stays in memory that long. Through Starlette and FastAPI that is about twenty
frames (one per middleware and routing layer) and six AsyncExitStacks, ~13 KiB
per open stream, and each write passes through every middleware's `send`
wrapper. The append route is the other way round: short, but the most frequent,
and the stack and its dependency solving were over half of a one-event append's
time on the event loop (py-spy). So these routes are matched here first and
served directly, with what the full stack would give them, taken from the same
places:

- the same route functions, so the same service calls and responses;
- the app-wide dependencies (the API key check) and each route's own
  `Depends`, all of which need only the request (checked when the app is built);
- FastAPI's own parameter validation (`request_params_to_args`) on the route's
  own parameters, so the same 422 messages;
- the app's exception handlers, or the route class's `shape` (the share routes'
  uniform 404s and headers), so the same problem+json;
- the request id and the access line of app/replaydeck/web/logs.py, and the producer's
  `traceparent` (app/replaydeck/tracing/context.py) for an append that creates a session.

The routes stay declared on their FastAPI routers, which is what the OpenAPI
schema and /docs show; every other request goes through FastAPI as before.

HEAD is answered here too, for every GET route: routed as a GET, it gets the
GET's status and headers and no body. A stream route answers HEAD with the
stream's headers without opening the stream.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any, Protocol

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replaydeck.tracing.context import producer_trace
from replaydeck.web.logs import HEAD, REQUEST_ID_HEADER, bind_request_id, log_access, request_id

Run = Callable[[], Awaitable[Response]]
Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


class Shapes(Protocol):
    """A route class that turns its own errors into responses (web/routes/share.py)."""

    async def shape(self, request: Request, run: Run) -> Response: ...


def _request_only(dependant: Dependant, where: str) -> Callable[..., Awaitable[Any]]:
    """The dependency's callable, if all it needs is the request (else serve it through FastAPI)."""
    needs_more = (
        dependant.dependencies
        or dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
    )
    call = dependant.call
    if needs_more or call is None or not inspect.iscoroutinefunction(call):
        raise TypeError(
            f"{where}: dependency {getattr(call, '__name__', call)!r} needs more than the "
            "request, or is not async; the direct stream routes cannot serve it"
        )
    return call


class DirectRoute:
    def __init__(
        self,
        route: APIRoute,
        app_dependencies: Sequence[params.Depends],
        handlers: dict[Any, Handler],
    ) -> None:
        self.route = route
        self._handlers = handlers
        dependant = route.dependant
        if dependant.body_params or dependant.cookie_params:
            raise TypeError(f"{route.path}: the direct stream routes read no body or cookies")
        # App-wide dependencies run first, as FastAPI runs them (the key check
        # answers 401/403 before any parameter is validated).
        self._checks = [
            (None, _request_only(get_dependant(path=route.path, call=d.dependency), route.path))
            for d in app_dependencies
            if d.dependency is not None
        ]
        self._needs = [(sub, _request_only(sub, route.path)) for sub in dependant.dependencies]
        shape: Callable[[Request, Run], Awaitable[Response]] | None = getattr(route, "shape", None)
        self._shape = shape or self._app_errors
        self._methods = frozenset(route.methods or ())
        self._tail = route.path.rsplit("}", 1)[-1]
        # Only the kinds of parameter the route has: the append route has no
        # query, so none is parsed.
        self._params = [
            (fields, attrgetter(source))
            for fields, source in (
                (route.dependant.path_params, "path_params"),
                (route.dependant.query_params, "query_params"),
                (route.dependant.header_params, "headers"),
            )
            if fields
        ]

    def matches(self, scope: Scope) -> Scope | None:
        # Every request passes here first: the method and the path's fixed tail
        # ("/events", "/stream") turn most away before the route's regex runs.
        if scope["method"] not in self._methods or not scope["path"].endswith(self._tail):
            return None
        match, child = self.route.matches(scope)
        return child if match is Match.FULL else None

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        request = Request(scope, receive)
        return await self._shape(request, lambda: self._run(request))

    async def _run(self, request: Request) -> Response:
        for _, check in self._checks:
            await check(request)
        values: dict[str, Any] = {}
        for sub, call in self._needs:
            values[sub.name or ""] = await call(**{sub.request_param_name or "request": request})
        errors: list[Any] = []
        dependant = self.route.dependant
        for fields, received in self._params:
            found, wrong = request_params_to_args(fields, received(request))
            values.update(found)
            errors.extend(wrong)
        if errors:
            raise RequestValidationError(errors)
        if dependant.request_param_name:  # the append route reads its own body
            values[dependant.request_param_name] = request
        response: Response = await self.route.endpoint(**values)
        return response

    async def _app_errors(self, request: Request, run: Run) -> Response:
        try:
            return await run()
        except Exception as error:
            handler = next(
                (self._handlers[c] for c in type(error).__mro__ if c in self._handlers), None
            )
            if handler is None:
                raise
            response = handler(request, error)
            return await response if inspect.isawaitable(response) else response


class DirectRoutes:
    """ASGI: the given routes served directly; every other request to `fallback`."""

    def __init__(
        self,
        routes: Iterable[APIRoute],
        fallback: ASGIApp,
        *,
        app_dependencies: Sequence[params.Depends],
        handlers: dict[Any, Handler],
    ) -> None:
        self.routes = [DirectRoute(r, app_dependencies, handlers) for r in routes]
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            # The app sees a GET; the server keeps its own scope, which says HEAD,
            # and so sends no body (uvicorn drops it; _headers_only makes sure).
            scope = {**scope, "method": "GET", HEAD: True}
        for route in self.routes:
            child = route.matches(scope)
            if child is not None:
                scope.update(child)
                await self._serve(route, scope, receive, send, head=head)
                return
        await self.fallback(scope, receive, _headers_only(send) if head else send)

    @staticmethod
    async def _serve(
        route: DirectRoute, scope: Scope, receive: Receive, send: Send, *, head: bool
    ) -> None:
        rid, token = bind_request_id(scope)
        started = time.perf_counter()
        status = 500
        try:
            with producer_trace(scope):
                # The request and its parsing live in `respond`'s frame, which is
                # gone by the time a stream starts; only the response stays.
                response = await route.respond(scope, receive)
                status = response.status_code
                response.headers[REQUEST_ID_HEADER] = rid
                if head:
                    # The stream is never started: no subscriber, no catch-up read.
                    await send(
                        {
                            "type": "http.response.start",
                            "status": status,
                            "headers": response.raw_headers,
                        }
                    )
                    await send({"type": "http.response.body", "body": b""})
                else:
                    await response(scope, receive, send)
        finally:
            log_access(scope, status, started)
            request_id.reset(token)


def _headers_only(send: Send) -> Send:
    """`send` for a HEAD request: the response's start, then an empty body once it ends."""

    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return head_send
